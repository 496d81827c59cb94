#!/usr/bin/env python3
"""Makes tests/fixtures/golden_opencv.json: detections and embeddings from OpenCV's own
FaceDetectorYN + FaceRecognizerSF on the sample photos, for the engine's golden tests.

Run with a Python that has opencv-python-headless and numpy (scripts/golden_fixture makes a venv in
the setup cache):  scripts/golden_fixture
The detector sees the same canvas as the engine (longest side to at most 640, top-left, zero pad to a
multiple of 32, the pack's free_input); OpenCV's resize is INTER_AREA when shrinking (antialiased, like the engine's) and
INTER_LINEAR when enlarging.
"""
import json, os, sys
import cv2
import numpy as np

models = sys.argv[1]
samples = sys.argv[2]
out_path = sys.argv[3]
yunet = os.path.join(models, "face_detection_yunet_2023mar.onnx")
sface = os.path.join(models, "face_recognition_sface_2021dec.onnx")

det = cv2.FaceDetectorYN.create(yunet, "", (640, 640), 0.7, 0.3, 5000)
rec = cv2.FaceRecognizerSF.create(sface, "")

result = {"opencv": cv2.__version__, "images": {}}
for name in ["newton.png", "gauss.png"]:
    img = cv2.imread(os.path.join(samples, name), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    scale = min(640, max(h, w)) / max(h, w)
    nw, nh = min(640, max(1, round(w * scale))), min(640, max(1, round(h * scale)))
    cw, ch = -(-nw // 32) * 32, -(-nh // 32) * 32
    interp = cv2.INTER_LINEAR
    canvas = np.zeros((ch, cw, 3), np.uint8)
    canvas[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=interp)
    det.setInputSize((cw, ch))
    _, faces = det.detect(canvas)
    faces = faces[np.argsort(-(faces[:, 2] * faces[:, 3]))]
    face = faces[0].copy()
    sx, sy = w / nw, h / nh
    face[0:14:2] *= sx
    face[1:14:2] *= sy
    aligned = rec.alignCrop(img, face)
    feat = rec.feature(aligned).flatten()
    feat = feat / np.linalg.norm(feat)
    result["images"][name] = {
        "faces": int(len(faces)),
        "box": [float(face[0]), float(face[1]), float(face[0] + face[2]), float(face[1] + face[3])],
        "landmarks": [[float(face[4 + 2 * k]), float(face[5 + 2 * k])] for k in range(5)],
        "score": float(face[14]),
        "embedding": [float(v) for v in feat],
    }
with open(out_path, "w") as f:
    json.dump(result, f, indent=1)
print("wrote", out_path)
