//! The fuzz targets' inputs replayed on every `cargo test`, without the fuzzer: the committed seeds
//! (`fuzz/seeds/<target>/`) and every input a fuzzing run ever found to fail (`fuzz/found/<target>/`,
//! kept after the fix so it stays fixed). `scripts/fuzz` runs the coverage-guided search itself.
use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("decode_image", facematch::fuzzing::decode_image),
    ("base64_image", facematch::fuzzing::base64_image),
    ("multipart", facematch::fuzzing::multipart),
    ("json", facematch::fuzzing::json),
];

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect()).unwrap_or_default();
    v.sort();
    v
}

#[test]
fn every_seed_and_every_found_input_is_answered_without_a_panic() {
    for (name, target) in TARGETS {
        let seeds = files(&fuzz_dir().join("seeds").join(name));
        assert!(seeds.len() >= 3, "{name}: at least three seeds expected, found {}", seeds.len());
        let found = files(&fuzz_dir().join("found").join(name));
        for p in seeds.iter().chain(&found) {
            let data = std::fs::read(p).unwrap();
            // A panic here names the file; scripts/fuzz reproduces it with the instrumented target.
            eprintln!("{name}: {}", p.display());
            target(&data);
        }
        println!("{name}: {} seeds, {} found inputs replayed", seeds.len(), found.len());
    }
}

/// The seeds decode, parse and read as the server would: a seed that is refused early would leave
/// the fuzzer to rediscover the format on its own.
#[test]
fn the_seeds_reach_past_the_first_check() {
    use facematch::server::native;
    for p in files(&fuzz_dir().join("seeds/decode_image")) {
        let img = facematch::decode::decode(&std::fs::read(&p).unwrap(), &Default::default());
        assert!(img.is_ok(), "{}: {:?}", p.display(), img.err());
    }
    for p in files(&fuzz_dir().join("seeds/base64_image")) {
        let s = std::fs::read_to_string(&p).unwrap();
        assert!(facematch::image_input::decode_base64_image(&s, 1 << 20).is_ok(), "{}", p.display());
    }
    for p in files(&fuzz_dir().join("seeds/json")) {
        let body = std::fs::read(&p).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(v.is_object(), "{}", p.display());
        let _ = native::json_fields(&body, &["image_a", "image_b"], 1 << 20);
    }
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    for p in files(&fuzz_dir().join("seeds/multipart")) {
        let req = axum::extract::Request::builder()
            .header("content-type", format!("multipart/form-data; boundary={}", facematch::fuzzing::BOUNDARY))
            .body(axum::body::Body::from(std::fs::read(&p).unwrap()))
            .unwrap();
        let form = rt.block_on(facematch::server::form::read(req, &["image_a", "image_b"], 1 << 20, |_| 4096));
        assert!(form.is_ok(), "{}: {:?}", p.display(), form.err());
    }
}

/// Writes the seeds (run by hand: `cargo test --release --test fuzz_inputs -- --ignored`): tiny
/// synthetic images in every accepted format and a downscaled public-domain portrait (newton, from
/// the scrfd sdist), base64 forms, JSON bodies of each reader and multipart bodies.
#[test]
#[ignore]
fn write_seeds() {
    use base64::Engine as _;
    use image::{ImageFormat, Rgb, RgbImage};
    let out = fuzz_dir().join("seeds");
    let write = |target: &str, name: &str, data: &[u8]| {
        let d = out.join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), data).unwrap();
    };
    let synthetic = RgbImage::from_fn(40, 36, |x, y| Rgb([(x * 6) as u8, (y * 7) as u8, ((x ^ y) * 9) as u8]));
    let mut images = Vec::new();
    for (fmt, ext) in [
        (ImageFormat::Png, "png"),
        (ImageFormat::Jpeg, "jpg"),
        (ImageFormat::Bmp, "bmp"),
        (ImageFormat::Gif, "gif"),
        (ImageFormat::Tiff, "tiff"),
        (ImageFormat::WebP, "webp"),
    ] {
        let mut buf = std::io::Cursor::new(Vec::new());
        synthetic.write_to(&mut buf, fmt).unwrap();
        write("decode_image", &format!("synthetic.{ext}"), buf.get_ref());
        images.push(buf.into_inner());
    }
    let newton = image::open(common_sample("newton.png")).unwrap().thumbnail(96, 96).to_rgb8();
    let mut jpg = std::io::Cursor::new(Vec::new());
    newton.write_to(&mut jpg, ImageFormat::Jpeg).unwrap();
    write("decode_image", "newton96.jpg", jpg.get_ref());
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let (png, jpg) = (&images[0], jpg.get_ref());
    write("base64_image", "plain", b64(png).as_bytes());
    write("base64_image", "data_uri", format!("data:image/jpeg;base64,{}", b64(jpg)).as_bytes());
    write("base64_image", "url_safe_no_pad", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(png).as_bytes());
    let wrapped: Vec<String> = b64(png).as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    write("base64_image", "wrapped", wrapped.join("\r\n").as_bytes());
    let j = |v: serde_json::Value| v.to_string().into_bytes();
    write("json", "native_compare", &j(serde_json::json!({"image_a": b64(png), "image_b": b64(jpg), "fmr": 1e-4})));
    write("json", "native_threshold", &j(serde_json::json!({"image_a": b64(png), "image_b": b64(png), "threshold": "0.8"})));
    write("json", "native_record", &j(serde_json::json!({"image_a": b64(png), "image_b": b64(png), "record": {"fullName": "A B"}})));
    write("json", "patch", &j(serde_json::json!({"record": {"status": "REJECTED", "nested": {"a": null}, "list": [1, {"b": 2}]}})));
    write(
        "json",
        "valify",
        &j(serde_json::json!({"data": {"first_img": b64(png), "second_img": b64(jpg), "bundle_key": "k", "lang": "en"}})),
    );
    write("json", "videosdk", &j(serde_json::json!({"img1": b64(png), "img2": b64(jpg)})));
    let part = |name: &str, file: Option<&str>, body: &[u8]| {
        let mut p = format!("--{}\r\nContent-Disposition: form-data; name=\"{name}\"", facematch::fuzzing::BOUNDARY).into_bytes();
        if let Some(f) = file {
            p.extend_from_slice(format!("; filename=\"{f}\"\r\nContent-Type: image/png").as_bytes());
        }
        p.extend_from_slice(b"\r\n\r\n");
        p.extend_from_slice(body);
        p.extend_from_slice(b"\r\n");
        p
    };
    let end = format!("--{}--\r\n", facematch::fuzzing::BOUNDARY).into_bytes();
    let body = |parts: Vec<Vec<u8>>| [parts.concat(), end.clone()].concat();
    write(
        "multipart",
        "native_pair",
        &body(vec![part("image_a", Some("a.png"), png), part("image_b", Some("b.jpg"), jpg), part("fmr", None, b"1e-4")]),
    );
    write("multipart", "selfie", &body(vec![part("selfie_image", Some("s.png"), png), part("threshold", None, b"0.5")]));
    write("multipart", "text_only", &body(vec![part("record", None, br#"{"a":1}"#), part("verification_id", None, b"v-1")]));
}

fn common_sample(name: &str) -> PathBuf {
    let cache = facematch::backend::default_models_dir().parent().map(PathBuf::from).unwrap_or_default();
    cache.join("samples").join(name)
}
