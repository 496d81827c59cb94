#!/usr/bin/env python3
"""The Python baseline for `scripts/bench`: what a user would write instead of facematch.

A straightforward pipeline with the same two ONNX files on onnxruntime, numpy and OpenCV, behind the
standard library's threading HTTP server, answering the same `POST /v1/compare` JSON body
(`image_a`, `image_b` base64) with `{"similarity": ...}`. Same steps as the engine: decode,
letterbox to 640 (longest side, top-left, zero pad), YuNet, decode + NMS, largest face, 5-point
similarity alignment to 112x112, SFace, cosine. Sessions use onnxruntime's defaults (what a user gets).

With `free`, it uses facematch's own detector geometry instead: YuNet with free height and width
(scripts/setup's face_detection_yunet_2023mar_free.onnx), each photo at its own size (longest side up to
640, padded to a multiple of 32), 640 again when that finds no face, then the second look at the largest
face on an enlarged crop. The same work as facematch, so the throughput ratio against it measures the
engineering alone.

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
EMB = ort.InferenceSession(f"{MODELS}/face_recognition_sface_2021dec_relu.onnx", providers=["CPUExecutionProvider"])
DET_OUT = [o.name for o in DET.get_outputs()]
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)


def detect(img):
    """Landmarks (5x2, original pixels) of the largest face, or None."""
    h, w = img.shape[:2]
    if not FREE:
        found = largest(run(img, (0, 0, w, h), (640, 640)))
        return None if found is None else found[1]
    side = min(640, max(h, w))
    first = largest(run(img, (0, 0, w, h), side))
    if first is None:
        first = largest(run(img, (0, 0, w, h), 640))
    if first is None:
        return None
    refined = refine(img, first, side / max(h, w))
    return (refined if refined is not None else first)[1]


def largest(found):
    return max(found, key=lambda f: f[0][2] * f[0][3]) if found else None


def refine(img, face, first_scale):
    """facematch's second look (the pack's `refine`): a crop of 1.25x the face's box, enlarged so the
    face is about 256 px (never shrunk below the photo's pixels), detected again."""
    h, w = img.shape[:2]
    (bx, by, bw, bh), _ = face
    side = max(bw, bh)
    half = 0.625 * side
    cx, cy = bx + bw / 2, by + bh / 2
    x0, y0 = min(max(np.floor(cx - half), 0), w - 1), min(max(np.floor(cy - half), 0), h - 1)
    x1, y1 = min(max(np.ceil(cx + half), x0 + 1), w), min(max(np.ceil(cy + half), y0 + 1), h)
    long, want = max(x1 - x0, y1 - y0), 256 / side
    scale = min(max(round(long * want / 32) * 32, 32), 640) / long if want > 1 else min(640 / long, 1.0)
    if scale <= first_scale * 1.2:
        return None
    found = run(img, (int(x0), int(y0), int(x1 - x0), int(y1 - y0)), scale)
    def iou(a, b):
        ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
        iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
        return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)
    best = max(found, key=lambda f: iou(f[0], face[0]), default=None)
    return best if best is not None and iou(best[0], face[0]) > 0.5 else None


def run(img, region, geometry):
    """One YuNet pass over `region` (x, y, w, h) of the image, resized either to fit a fixed square
    canvas (geometry = (640, 640)) or by a scale / to a longest side on a canvas padded to 32.
    Returns [(box xywh, landmarks 5x2)] in original pixels after NMS."""
    rx, ry, rw, rh = region
    if isinstance(geometry, tuple):
        scale = 640 / max(rw, rh)
    elif isinstance(geometry, int):
        scale = geometry / max(rw, rh)
    else:
        scale = geometry
    nw, nh = max(1, round(rw * scale)), max(1, round(rh * scale))
    cw, ch = geometry if isinstance(geometry, tuple) else (-(-nw // 32) * 32, -(-nh // 32) * 32)
    crop = img[ry:ry + rh, rx:rx + rw]
    canvas = np.zeros((ch, cw, 3), np.uint8)
    canvas[:nh, :nw] = crop if (nw, nh) == (rw, rh) else cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_LINEAR)
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
        return []
    boxes, scores, kps = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)
    idx = np.array(cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), 0.7, 0.3)).reshape(-1)
    k = np.array([rw / nw, rh / nh], np.float32)
    return [((boxes[i, 0] * k[0] + rx, boxes[i, 1] * k[1] + ry, boxes[i, 2] * k[0], boxes[i, 3] * k[1]), kps[i] * k + (rx, ry)) for i in idx]


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
