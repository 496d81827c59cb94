#!/usr/bin/env python3
"""Makes tests/fixtures/golden_opencv.json: detections and embeddings from OpenCV's own
FaceDetectorYN + FaceRecognizerSF on the sample photos, for the engine's golden tests.

Run with a Python that has opencv-python-headless and numpy (scripts/golden_fixture makes a venv in
the setup cache):  scripts/golden_fixture
The detector sees the same canvas as the engine (longest side to at most 640, top-left, zero pad to a
multiple of 32, the pack's free_input); OpenCV's resize is INTER_AREA when shrinking (antialiased, like the engine's) and
INTER_LINEAR when enlarging. Like the engine (the pack's `refine`), the chosen face's landmarks then
come from a second look at a crop around it (1.25x its box) enlarged so the face is about 256 px.
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

FACE_PX, CONTEXT = 256.0, 1.25


def refine(img, face, first_scale):
    """The engine's second look (src/detect/mod.rs, `refine`): the face in the crop whose box overlaps
    the first pass's most (IoU > 0.5), in original pixels; None when the first pass saw it large enough."""
    h, w = img.shape[:2]
    side = max(face[2], face[3])
    half = 0.5 * CONTEXT * side
    cx, cy = face[0] + face[2] / 2, face[1] + face[3] / 2
    x0 = min(max(np.floor(cx - half), 0), w - 1)
    y0 = min(max(np.floor(cy - half), 0), h - 1)
    x1 = min(max(np.ceil(cx + half), x0 + 1), w)
    y1 = min(max(np.ceil(cy + half), y0 + 1), h)
    long = max(x1 - x0, y1 - y0)
    want = FACE_PX / side
    if want > 1:
        scale = min(max(round(long * want / 32) * 32, 32), 640) / long
    else:
        scale = min(640 / long, 1.0)
    if scale <= first_scale * 1.2:
        return None
    size = (int(max(round((x1 - x0) * scale), 1)), int(max(round((y1 - y0) * scale), 1)))
    cw, ch = -(-size[0] // 32) * 32, -(-size[1] // 32) * 32
    crop = img[int(y0):int(y1), int(x0):int(x1)]
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas = np.zeros((ch, cw, 3), np.uint8)
    canvas[:size[1], :size[0]] = crop if crop.shape[1::-1] == size else cv2.resize(crop, size, interpolation=interp)
    det.setInputSize((cw, ch))
    _, found = det.detect(canvas)
    if found is None:
        return None
    found = found.copy()
    kx, ky = (x1 - x0) / size[0], (y1 - y0) / size[1]
    found[:, 0:14:2] *= kx  # x, width and the landmarks' x scale back; only positions move by the crop
    found[:, 1:14:2] *= ky
    found[:, [0, 4, 6, 8, 10, 12]] += x0
    found[:, [1, 5, 7, 9, 11, 13]] += y0

    def iou(a, b):
        ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
        iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
        inter = ix * iy
        return inter / (a[2] * a[3] + b[2] * b[3] - inter)
    best = max(found, key=lambda f: iou(f, face))
    return best if iou(best, face) > 0.5 else None


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
    refined = refine(img, face, nw / w)
    if refined is not None:
        face[4:14] = refined[4:14]
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
