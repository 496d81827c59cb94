//! Run-time state that must survive restarts: API clients (secrets stored hashed) and vendor
//! records such as Cashfree verification ids. SQLite by default (one file in the state directory,
//! WAL, synchronous=FULL so an acknowledged write survives a crash); the [`Store`] trait keeps SQL out
//! of the HTTP and engine code so that another backend can be added.
mod sqlite;

use serde::Serialize;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database: {0}")]
    Db(String),
    #[error("already exists")]
    Conflict,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Vendor API schemes that carry their own credentials.
pub const SCHEMES: [&str; 5] = ["valify", "didit", "faceki", "videosdk", "cashfree"];

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
