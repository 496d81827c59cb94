//! Every default a deployment can change, defined once: the command line, the configuration file
//! and [`crate::server::ServerConfig::default`] all read them from here.

/// Decision threshold on the calibrated score s = -log10(FMR)/6: 0.75 is an FMR of about 3e-5.
pub const MATCH_THRESHOLD: f32 = 0.75;
/// Largest single image, in bytes, after base64 decoding (Cashfree's and Didit's documented 5 MB).
pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;
/// Largest request body: two images at the upload limit in base64 (4 characters per 3 bytes), plus
/// 1 MiB for the other fields and multipart framing, so a pair of allowed images always fits.
pub const MAX_BODY_BYTES: usize = MAX_UPLOAD_BYTES.div_ceil(3) * 4 * 2 + 1024 * 1024;
/// Didit's documented minimum photo side, in pixels.
pub const DIDIT_MIN_SIDE: u32 = 480;
/// False-match rate of a whole 1:N search (NIST FRVT 1:N's operating point).
pub const IDENTIFY_FMR: f64 = 1e-3;
/// A second face counts as "another person in the photo" when its box covers at least this share
/// of the chosen face's box (0.25: half as wide) and it is not the same person. Chosen on
/// `../shared/eval` (README, "Prominent faces"): it keeps every group photo of comparable faces and
/// drops small document ghost portraits (0.06-0.14) and cut-off background heads.
pub const PROMINENT_FACE_SHARE: f32 = 0.25;
/// The other faces of a photo (largest first) compared with the chosen one, so that a document's
/// ghost portrait, however large it is printed, is known for the holder again. A document carries
/// one ghost portrait at most; a second check covers a photo of that document with a selfie.
pub const SAME_PERSON_CHECKS: usize = 2;
/// Another face at least this alike to the chosen one is the same person, not another one. Strict
/// (calibrated score 0.75, FMR about 3e-5 even for impostors of the same sex, ethnicity or age:
/// cosine 0.58 in the default pack): this check can only remove a face from the count, so it must
/// remove only the holder. On `../shared/eval` the two ghost portraits large enough to need it
/// score cosine 0.73 and 0.84, the most alike two people of one group photo 0.47, the most alike
/// two people of FRLL's studio portraits 0.58.
pub const SAME_PERSON_SCORE: f32 = 0.75;
/// Seconds from a connection's start (or its last answer) to the end of the next request's headers:
/// an idle or slow-header socket is closed after this.
pub const HEADER_TIMEOUT_SECS: u64 = 10;
/// Longest pause, in seconds, while a request body is read (then 408).
pub const BODY_TIMEOUT_SECS: u64 = 30;
/// Open connections at most (lowered at start to fit under the open-file limit).
pub const MAX_CONNECTIONS: usize = 1024;
/// Seconds a request's work may wait in the inference queue before it is dropped unrun (the client
/// is answered busy: a late answer helps nobody).
pub const QUEUE_WAIT_SECS: u64 = 10;
/// Milliseconds between reads of a shared (PostgreSQL) database's gallery log by each server: the
/// most an enrollment or deletion on one server waits before every other server's 1:N search sees it.
pub const GALLERY_SYNC_MS: u64 = 250;
