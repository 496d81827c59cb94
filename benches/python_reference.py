#!/usr/bin/env python3
"""The Python baseline for `scripts/bench`: what a user would write instead of facematch.

A straightforward pipeline with the same two ONNX files on onnxruntime, numpy and OpenCV, behind the
standard library's threading HTTP server, answering the same `POST /v1/compare` JSON body
(`image_a`, `image_b` base64) with `{"similarity": ...}`. Same steps as the engine: decode,
letterbox to 640 (longest side, top-left, zero pad), YuNet, decode + NMS, largest face, 5-point
similarity alignment to 112x112, SFace, cosine. Sessions use onnxruntime's defaults (what a user gets).

With `free`, it uses facematch's own detector geometry instead: YuNet with free height and width
(scripts/setup's face_detection_yunet_2023mar_free.onnx), each photo at its own size (longest side up to
640, padded to a multiple of 32), 640 again when that finds no face. The same work as facematch, so the
throughput ratio against it measures the engineering alone.

This is a benchmark baseline, not product code. usage: python_reference.py MODELS_DIR PORT [free]
"""
import base64
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import onnxruntime as ort

MODELS, PORT = sys.argv[1], int(sys.argv[2])
FREE = sys.argv[3:] == ["free"]
DET_FILE = "face_detection_yunet_2023mar_free.onnx" if FREE else "face_detection_yunet_2023mar.onnx"
DET = ort.InferenceSession(f"{MODELS}/{DET_FILE}", providers=["CPUExecutionProvider"])
EMB = ort.InferenceSession(f"{MODELS}/face_recognition_sface_2021dec_noinit.onnx", providers=["CPUExecutionProvider"])
DET_OUT = [o.name for o in DET.get_outputs()]
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)


def detect(img):
    if not FREE:
        return detect_at(img, 640, False)
    found = detect_at(img, min(640, max(img.shape[:2])), True)
    return found if found is not None else detect_at(img, 640, True)


def detect_at(img, side, free):
    h, w = img.shape[:2]
    scale = side / max(h, w)
    nw, nh = min(side, max(1, round(w * scale))), min(side, max(1, round(h * scale)))
    cw, ch = (-(-nw // 32) * 32, -(-nh // 32) * 32) if free else (640, 640)
    canvas = np.zeros((ch, cw, 3), np.uint8)
    canvas[:nh, :nw] = img if (nw, nh) == (w, h) else cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)  # BGR, 0..255
    out = dict(zip(DET_OUT, DET.run(DET_OUT, {DET.get_inputs()[0].name: blob})))
    boxes, scores, kps = [], [], []
    for s in (8, 16, 32):
        cols = cw // s
        score = np.sqrt(np.clip(out[f"cls_{s}"][0, :, 0], 0, 1) * np.clip(out[f"obj_{s}"][0, :, 0], 0, 1))
        keep = np.where(score >= 0.7)[0]
        if keep.size == 0:
            continue
        row, col = (keep // cols).astype(np.float32), (keep % cols).astype(np.float32)
        b = out[f"bbox_{s}"][0, keep]
        cx, cy = (col + b[:, 0]) * s, (row + b[:, 1]) * s
        bw, bh = np.exp(b[:, 2]) * s, np.exp(b[:, 3]) * s
        boxes.append(np.stack([cx - bw / 2, cy - bh / 2, bw, bh], 1))
        k = out[f"kps_{s}"][0, keep].reshape(-1, 5, 2)
        kps.append(np.stack([(k[:, :, 0] + col[:, None]) * s, (k[:, :, 1] + row[:, None]) * s], 2))
        scores.append(score[keep])
    if not boxes:
        return None
    boxes, scores, kps = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)
    idx = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), 0.7, 0.3)
    idx = np.array(idx).reshape(-1)
    best = max(idx, key=lambda i: boxes[i, 2] * boxes[i, 3])
    return kps[best] * np.array([w / nw, h / nh], np.float32)


def embed(img, landmarks):
    m, _ = cv2.estimateAffinePartial2D(landmarks, TEMPLATE, method=cv2.LMEDS)
    crop = cv2.warpAffine(img, m, (112, 112))
    blob = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)[None].astype(np.float32)
    v = EMB.run(None, {EMB.get_inputs()[0].name: blob})[0].reshape(-1)
    return v / np.linalg.norm(v)


def analyse(b64):
    if "," in b64[:64]:
        b64 = b64.split(",", 1)[1]
    img = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("undecodable image")
    lm = detect(img)
    if lm is None:
        raise LookupError("no face")
    return embed(img, lm)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply(200, {"status": "ready"})

    def do_POST(self):
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            a, b = analyse(body["image_a"]), analyse(body["image_b"])
            self.reply(200, {"similarity": float(a @ b)})
        except LookupError as e:
            self.reply(422, {"error": str(e)})
        except Exception as e:  # a baseline: report and carry on
            self.reply(400, {"error": str(e)})


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
