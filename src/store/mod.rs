//! Run-time state that must survive restarts: API clients (secrets stored hashed), vendor records
//! such as Cashfree verification ids, enrolled subjects and their embeddings. SQLite by default (one
//! file in the state directory, WAL, synchronous=FULL so an acknowledged write survives a crash);
//! PostgreSQL for several servers on one database (`--database-url postgres://…`). The [`Store`]
//! trait keeps SQL out of the HTTP and engine code.
mod migrate;
mod postgres;
mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use migrate::MigrationSummary;
pub use postgres::PostgresStore;
use serde::Serialize;
pub use sqlite::SqliteStore;

/// Where the state lives: `--database-url` (`sqlite:PATH` or `postgres://…`), else the SQLite file
/// in the state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    /// The state file's name inside `--state-dir`.
    pub const SQLITE_FILE: &'static str = "facematch.sqlite";

    pub fn parse(database_url: Option<&str>, state_dir: &Path) -> Result<Location, String> {
        match database_url.map(str::trim).filter(|u| !u.is_empty()) {
            None => Ok(Location::Sqlite(state_dir.join(Self::SQLITE_FILE))),
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => Ok(Location::Postgres(u.to_string())),
            Some(u) => match u.strip_prefix("sqlite:") {
                Some(path) if !path.is_empty() => Ok(Location::Sqlite(PathBuf::from(path.trim_start_matches("//")))),
                _ => Err("--database-url: expected sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE".into()),
            },
        }
    }

    /// For logs and errors: the path, or the PostgreSQL URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(p) => format!("sqlite:{}", p.display()),
            Location::Postgres(u) => match (u.find("://"), u.rfind('@')) {
                (Some(s), Some(at)) if at > s => match u[s + 3..at].split_once(':') {
                    Some((user, _)) => format!("{}{user}:***{}", &u[..s + 3], &u[at..]),
                    None => u.clone(),
                },
                _ => u.clone(),
            },
        }
    }

    pub fn open(&self) -> StoreResult<Arc<dyn Store>> {
        Ok(match self {
            Location::Sqlite(p) => Arc::new(SqliteStore::open(p)?),
            Location::Postgres(u) => Arc::new(PostgresStore::connect(u)?),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database: {0}")]
    Db(String),
    #[error("already exists")]
    Conflict,
    /// An `Idempotency-Key` already used by this client for a different request.
    #[error("this Idempotency-Key was already used for a different request")]
    KeyReused,
    /// An `Idempotency-Key` whose first request's subject or face has since been deleted.
    #[error("what this Idempotency-Key created has since been deleted")]
    KeyTargetGone,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Vendor API schemes that carry their own credentials.
pub const SCHEMES: [&str; 6] = ["native", "valify", "didit", "faceki", "videosdk", "cashfree"];

#[derive(Debug, Clone, Serialize)]
pub struct Client {
    pub scheme: String,
    pub client_id: String,
    pub created_at: i64,
    pub revoked: bool,
}

/// A newly created client: the only time the secret exists in clear.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub scheme: String,
    pub client_id: String,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CashfreeRecord {
    pub verification_id: String,
    pub ref_id: i64,
    pub status: String,
    pub result: String,
    pub score: f64,
}

/// Outcome of spending one Valify trial of a bundle key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleUse {
    Unknown,
    Exhausted,
    /// `remaining` is `None` for an unlimited bundle.
    Ok {
        remaining: Option<i64>,
    },
}

/// A Valify transaction as recorded: the result, never the images.
#[derive(Debug, Clone)]
pub struct ValifyTransaction {
    pub transaction_id: String,
    pub bundle_key: String,
    pub client_id: String,
    pub is_similar: Option<bool>,
    pub confidence: Option<f64>,
    pub error_code: Option<i64>,
}

/// One enrolled face: the embedding and the model that made it; never the photo.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FaceInfo {
    /// The store's integer key of the face: the in-memory gallery's handle (never shown to clients).
    #[serde(skip)]
    pub key: i64,
    pub face_id: String,
    pub image_id: String,
    /// The embedding model's id ([`crate::manifest::Manifest::embedding_model_id`]).
    pub model: String,
    pub created_at: String,
    /// An encrypted photo is kept (only with `--photo-key`).
    pub has_photo: bool,
}

/// An enrolled person: a free-form KYC record (a JSON object) plus the fields FACEKI indexes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Subject {
    pub subject_id: String,
    pub record: serde_json::Value,
    pub full_name: Option<String>,
    pub document_id: Option<String>,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub faces: Vec<FaceInfo>,
}

/// What a record update did.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordUpdate {
    Updated(Subject),
    NotFound,
    /// The patched record would be larger than allowed; the stored one is unchanged.
    TooLarge,
}

impl FaceInfo {
    /// A face about to be inserted: new random ids; `key` is the store's, set once inserted.
    fn fresh(face: &NewFace, now: &str) -> FaceInfo {
        FaceInfo {
            key: 0,
            face_id: uuid::Uuid::new_v4().to_string(),
            image_id: uuid::Uuid::new_v4().to_string(),
            model: face.model.to_string(),
            created_at: now.to_string(),
            has_photo: face.sealed_photo.is_some(),
        }
    }
}

/// A face to enroll.
pub struct NewFace<'a> {
    pub embedding: &'a [f32],
    pub model: &'a str,
    /// The photo, already encrypted ([`crate::photos::PhotoKey`]); `None` keeps no photo.
    pub sealed_photo: Option<&'a [u8]>,
    /// Write at most once per client and key: a retry of the same request returns what the
    /// first one wrote, in the same transaction as the write itself (so a crash between the
    /// commit and the answer cannot make a retry write twice).
    pub once: Option<Once<'a>>,
}

/// A client's `Idempotency-Key` and the fingerprint of the request it came with.
#[derive(Debug, Clone, Copy)]
pub struct Once<'a> {
    pub client_id: &'a str,
    pub key: &'a str,
    pub request_hash: &'a str,
}

/// A stored face with its embedding, as loaded into the in-memory gallery.
pub struct FaceRow {
    pub key: i64,
    pub face_id: String,
    pub subject_id: String,
    pub embedding: Vec<f32>,
}

pub trait Store: Send + Sync {
    /// Issues a random bearer token of `kind` (`access`, `refresh`) for a client; stores its hash.
    fn issue_token(&self, scheme: &str, client_id: &str, kind: &str, ttl_secs: i64) -> StoreResult<String>;
    /// The client a live token belongs to (expired tokens and revoked clients give `None`).
    fn check_token(&self, scheme: &str, kind: &str, token: &str) -> StoreResult<Option<String>>;
    /// A new Valify bundle key; `quota` = trials allowed (`None`: unlimited).
    fn add_bundle_key(&self, quota: Option<i64>) -> StoreResult<String>;
    fn bundle_keys(&self) -> StoreResult<Vec<String>>;
    fn use_bundle_trial(&self, bundle_key: &str) -> StoreResult<BundleUse>;
    fn record_valify(&self, t: &ValifyTransaction) -> StoreResult<()>;
    /// Creates a client with a fresh random secret (stored as a hash).
    fn add_client(&self, scheme: &str, client_id: Option<&str>) -> StoreResult<NewClient>;
    /// Creates or updates a client with a given secret (operator-provisioned credentials); true
    /// when something changed. A revoked client stays revoked.
    fn provision_client(&self, scheme: &str, client_id: &str, secret: &str) -> StoreResult<bool>;
    fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// The live client whose secret this is (an API key used alone), looked up by its hash.
    fn client_by_secret(&self, scheme: &str, secret: &str) -> StoreResult<Option<String>>;
    fn revoke_client(&self, scheme: &str, client_id: &str) -> StoreResult<bool>;
    /// True when the pair matches a live client; compared in constant time.
    fn check_client(&self, scheme: &str, client_id: &str, secret: &str) -> StoreResult<bool>;
    /// The secret of a client that signs tokens itself (VideoSDK's HS256 key): kept in clear,
    /// since verifying a signature needs it.
    fn signing_secret(&self, scheme: &str, client_id: &str) -> StoreResult<Option<String>>;
    /// Reserves a Cashfree verification id; [`StoreError::Conflict`] when it was ever used.
    fn reserve_cashfree_id(&self, verification_id: &str, client_id: &str) -> StoreResult<i64>;
    /// Releases a reservation whose request failed before a result (the client may retry).
    fn release_cashfree_id(&self, verification_id: &str) -> StoreResult<()>;
    fn complete_cashfree(&self, record: &CashfreeRecord) -> StoreResult<()>;

    /// Enrolls a subject with its first face, in one transaction. With `face.once` already used
    /// for the same request: the subject that request created, unchanged.
    fn create_subject(&self, record: &serde_json::Value, face: &NewFace) -> StoreResult<Subject>;
    /// Adds a face to an existing subject (`None`: no such subject). With `face.once` already
    /// used for the same request: the face that request added.
    fn add_face(&self, subject_id: &str, face: &NewFace) -> StoreResult<Option<FaceInfo>>;
    fn subject(&self, subject_id: &str) -> StoreResult<Option<Subject>>;
    /// Subjects by creation time, `limit` from `offset`, those `filter` matches when given.
    fn list_subjects(&self, offset: i64, limit: i64, filter: Option<&str>) -> StoreResult<Vec<Subject>>;
    /// Subjects `filter` matches, or all.
    fn count_subjects(&self, filter: Option<&str>) -> StoreResult<i64>;
    /// Applies a JSON merge patch (RFC 7396) to the subject's record, unless the patched record
    /// would exceed `max_record_bytes` serialized (then nothing is written). With `once` already
    /// used for the same request: the subject as it is now, the patch not applied again.
    fn update_subject(
        &self,
        subject_id: &str,
        patch: &serde_json::Value,
        max_record_bytes: usize,
        once: Option<Once>,
    ) -> StoreResult<RecordUpdate>;
    /// Removes the subject, its faces and their embeddings from the file (overwritten, not just
    /// unlinked): the keys of the faces removed. `None` when there was no such subject; no keys
    /// when `once` already deleted it.
    fn delete_subject(&self, subject_id: &str, once: Option<Once>) -> StoreResult<Option<Vec<i64>>>;
    /// The encrypted photo of a face, when one was kept.
    fn face_photo(&self, subject_id: &str, face_id: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Calls `f` for every face embedded by `model`.
    fn faces(&self, model: &str, f: &mut dyn FnMut(FaceRow)) -> StoreResult<()>;
    /// The faces with these keys, for exact rescoring of 1:N candidates (keys no longer stored are
    /// left out).
    fn faces_by_key(&self, keys: &[i64]) -> StoreResult<Vec<FaceRow>>;
    /// Number of stored faces per embedding model (faces of another model need re-enrollment).
    fn face_models(&self) -> StoreResult<Vec<(String, i64)>>;
    /// The gallery's change feed, for a store that several servers share (`None`: this process is
    /// the only writer, and its own writes are all the gallery needs).
    fn gallery_feed(&self) -> Option<&dyn GalleryFeed> {
        None
    }
    /// Runs `f` while no other process sharing this store runs an `exclusively` block (servers
    /// starting together on an empty database must not each issue first-start credentials).
    fn exclusively(&self, f: &mut dyn FnMut() -> StoreResult<()>) -> StoreResult<()> {
        f()
    }
}

/// One logged change of a face: as it is now (`None`: deleted, or of another embedding model).
pub struct FaceChange {
    pub seq: i64,
    pub key: i64,
    pub face: Option<FaceRow>,
}

/// An ordered log of enrolled and removed faces that every server follows to keep its in-memory
/// gallery equal to the database's faces.
pub trait GalleryFeed {
    /// Calls `f` for every face of `model` and returns the log position this snapshot reflects.
    fn gallery_snapshot(&self, model: &str, f: &mut dyn FnMut(FaceRow)) -> StoreResult<i64>;
    /// Up to `limit` changes after position `after`, in log order.
    fn gallery_changes(&self, model: &str, after: i64, limit: i64) -> StoreResult<Vec<FaceChange>>;
}

/// Seconds since the Unix epoch: token expiry and created-at stamps.
fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// An embedding as stored: little-endian f32s.
fn embedding_blob(e: &[f32]) -> Vec<u8> {
    e.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn embedding_of(blob: &[u8]) -> Vec<f32> {
    blob.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// A record after a merge patch, as it is written: the JSON text and the indexed fields.
struct PatchedRecord {
    text: String,
    full_name: Option<String>,
    document_id: Option<String>,
    status: String,
}

/// Applies `patch` to the subject's record; `None` (the subject's record then undefined) when the
/// result would be larger than `max_bytes`, so nothing may be written.
fn patch_record(subject: &mut Subject, patch: &serde_json::Value, max_bytes: usize) -> Option<PatchedRecord> {
    merge_patch(&mut subject.record, patch);
    let text = subject.record.to_string();
    if text.len() > max_bytes {
        return None;
    }
    let (full_name, document_id, status) = indexed(&subject.record);
    Some(PatchedRecord { text, full_name, document_id, status })
}

/// The indexed fields FACEKI returns, read from the record.
fn indexed(record: &serde_json::Value) -> (Option<String>, Option<String>, String) {
    let text = |k: &str| record.get(k).and_then(|v| v.as_str()).map(str::to_string);
    (text("fullName"), text("documentId"), text("status").unwrap_or_else(|| "ACCEPTED".into()))
}

/// RFC 7396 JSON merge patch: objects merge key by key, `null` removes, anything else replaces.
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        _ => {
            if let Some(p) = patch.as_object() {
                let mut fresh = serde_json::Value::Object(Default::default());
                merge_patch(&mut fresh, &serde_json::Value::Object(p.clone()));
                *target = fresh;
            } else {
                *target = patch.clone();
            }
        }
    }
}

/// 32 random bytes as hex: the secrets and ids facematch issues.
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    // getrandom only fails when the OS has no entropy source, where nothing safe can be issued.
    getrandom::fill(&mut b).expect("the operating system's random source is unavailable");
    hex::encode(b)
}

pub fn hash_secret(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Now, as ISO 8601 in UTC with microseconds (`2024-07-24T08:54:25.443172Z`, as the vendors' docs
/// print it): at most 6 fractional digits, which Python's `%f` and JavaScript's `Date` both read.
pub fn iso_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}
