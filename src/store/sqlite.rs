//! The SQLite store: one file, migrations by `user_version`, WAL with synchronous=FULL.
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use subtle::ConstantTimeEq;

use super::*;

const MIGRATIONS: &[&str] = &[
    // v1
    "CREATE TABLE clients (
        scheme TEXT NOT NULL,
        client_id TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        signing_secret TEXT,
        created_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (scheme, client_id)
    );
    CREATE TABLE cashfree_verifications (
        ref_id INTEGER PRIMARY KEY AUTOINCREMENT,
        verification_id TEXT NOT NULL UNIQUE,
        client_id TEXT NOT NULL,
        status TEXT,
        result TEXT,
        score REAL,
        created_at INTEGER NOT NULL
    );",
    // v2: bearer tokens (hashed), Valify bundle keys with quotas, Valify transactions.
    "CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        scheme TEXT NOT NULL,
        client_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE valify_bundles (
        bundle_key TEXT PRIMARY KEY,
        quota INTEGER,
        used INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE valify_transactions (
        transaction_id TEXT PRIMARY KEY,
        bundle_key TEXT NOT NULL,
        client_id TEXT NOT NULL,
        is_similar INTEGER,
        confidence REAL,
        error_code INTEGER,
        created_at INTEGER NOT NULL
    );",
];

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Db(e.to_string())
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl SqliteStore {
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Db(format!("{}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(db)?;
        Self::init(conn)
    }

    pub fn in_memory() -> StoreResult<SqliteStore> {
        Self::init(Connection::open_in_memory().map_err(db)?)
    }

    fn init(conn: Connection) -> StoreResult<SqliteStore> {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        conn.pragma_update(None, "busy_timeout", 5000).map_err(db)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(db)?;
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            conn.execute_batch(&format!("BEGIN; {m}; PRAGMA user_version = {}; COMMIT;", i + 1)).map_err(db)?;
        }
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll back).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for SqliteStore {
    fn add_client(&self, scheme: &str, client_id: Option<&str>) -> StoreResult<NewClient> {
        let client_id = client_id.map(str::to_string).unwrap_or_else(|| format!("{scheme}-{}", random_hex(8)));
        let secret = random_hex(32);
        let signing = (scheme == "videosdk").then(|| secret.clone());
        let n = self
            .conn()
            .execute(
                "INSERT OR IGNORE INTO clients (scheme, client_id, secret_hash, signing_secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![scheme, client_id, hash_secret(&secret), signing, now()],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(NewClient { scheme: scheme.to_string(), client_id, secret })
    }

    fn provision_client(&self, scheme: &str, client_id: &str, secret: &str) -> StoreResult<bool> {
        let signing = (scheme == "videosdk").then(|| secret.to_string());
        let n = self
            .conn()
            .execute(
                "INSERT INTO clients (scheme, client_id, secret_hash, signing_secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (scheme, client_id) DO UPDATE SET secret_hash = excluded.secret_hash, signing_secret = excluded.signing_secret
                 WHERE secret_hash <> excluded.secret_hash",
                params![scheme, client_id, hash_secret(secret), signing, now()],
            )
            .map_err(db)?;
        Ok(n > 0)
    }

    fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT scheme, client_id, created_at, revoked FROM clients ORDER BY scheme, created_at").map_err(db)?;
        let rows = st
            .query_map([], |r| {
                Ok(Client { scheme: r.get(0)?, client_id: r.get(1)?, created_at: r.get(2)?, revoked: r.get::<_, i64>(3)? != 0 })
            })
            .map_err(db)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db)
    }

    fn revoke_client(&self, scheme: &str, client_id: &str) -> StoreResult<bool> {
        let n = self
            .conn()
            .execute("UPDATE clients SET revoked = 1 WHERE scheme = ?1 AND client_id = ?2", params![scheme, client_id])
            .map_err(db)?;
        Ok(n > 0)
    }

    fn check_client(&self, scheme: &str, client_id: &str, secret: &str) -> StoreResult<bool> {
        let stored: Option<String> = self
            .conn()
            .query_row(
                "SELECT secret_hash FROM clients WHERE scheme = ?1 AND client_id = ?2 AND revoked = 0",
                params![scheme, client_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let given = hash_secret(secret);
        // Compare even when the client is unknown, so timing does not tell which ids exist.
        let expected = stored.clone().unwrap_or_else(|| "0".repeat(64));
        let equal: bool = given.as_bytes().ct_eq(expected.as_bytes()).into();
        Ok(stored.is_some() && equal)
    }

    fn signing_secret(&self, scheme: &str, client_id: &str) -> StoreResult<Option<String>> {
        self.conn()
            .query_row(
                "SELECT signing_secret FROM clients WHERE scheme = ?1 AND client_id = ?2 AND revoked = 0",
                params![scheme, client_id],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(db)
    }

    fn reserve_cashfree_id(&self, verification_id: &str, client_id: &str) -> StoreResult<i64> {
        let conn = self.conn();
        let n = conn
            .execute(
                "INSERT OR IGNORE INTO cashfree_verifications (verification_id, client_id, created_at) VALUES (?1, ?2, ?3)",
                params![verification_id, client_id, now()],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(conn.last_insert_rowid())
    }

    fn release_cashfree_id(&self, verification_id: &str) -> StoreResult<()> {
        self.conn()
            .execute("DELETE FROM cashfree_verifications WHERE verification_id = ?1 AND status IS NULL", params![verification_id])
            .map_err(db)?;
        Ok(())
    }

    fn issue_token(&self, scheme: &str, client_id: &str, kind: &str, ttl_secs: i64) -> StoreResult<String> {
        let token = random_hex(32);
        self.conn()
            .execute(
                "INSERT INTO tokens (token_hash, scheme, client_id, kind, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash_secret(&token), scheme, client_id, kind, now() + ttl_secs],
            )
            .map_err(db)?;
        Ok(token)
    }

    fn check_token(&self, scheme: &str, kind: &str, token: &str) -> StoreResult<Option<String>> {
        // Looked up by hash: the index lookup reveals nothing about the token's bytes.
        self.token_client(scheme, kind, token)
    }

    fn add_bundle_key(&self, quota: Option<i64>) -> StoreResult<String> {
        let key = random_hex(16);
        self.conn().execute("INSERT INTO valify_bundles (bundle_key, quota) VALUES (?1, ?2)", params![key, quota]).map_err(db)?;
        Ok(key)
    }

    fn bundle_keys(&self) -> StoreResult<Vec<String>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT bundle_key FROM valify_bundles").map_err(db)?;
        let rows = st.query_map([], |r| r.get(0)).map_err(db)?;
        rows.collect::<Result<Vec<String>, _>>().map_err(db)
    }

    fn use_bundle_trial(&self, bundle_key: &str) -> StoreResult<BundleUse> {
        let conn = self.conn();
        let row: Option<(Option<i64>, i64)> = conn
            .query_row("SELECT quota, used FROM valify_bundles WHERE bundle_key = ?1", params![bundle_key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(db)?;
        match row {
            None => Ok(BundleUse::Unknown),
            Some((Some(q), used)) if used >= q => Ok(BundleUse::Exhausted),
            Some((quota, used)) => {
                conn.execute("UPDATE valify_bundles SET used = used + 1 WHERE bundle_key = ?1", params![bundle_key]).map_err(db)?;
                Ok(BundleUse::Ok { remaining: quota.map(|q| q - used - 1) })
            }
        }
    }

    fn record_valify(&self, t: &ValifyTransaction) -> StoreResult<()> {
        self.conn()
            .execute(
                "INSERT INTO valify_transactions (transaction_id, bundle_key, client_id, is_similar, confidence, error_code, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![t.transaction_id, t.bundle_key, t.client_id, t.is_similar, t.confidence, t.error_code, now()],
            )
            .map_err(db)?;
        Ok(())
    }

    fn complete_cashfree(&self, r: &CashfreeRecord) -> StoreResult<()> {
        self.conn()
            .execute(
                "UPDATE cashfree_verifications SET status = ?2, result = ?3, score = ?4 WHERE verification_id = ?1",
                params![r.verification_id, r.status, r.result, r.score],
            )
            .map_err(db)?;
        Ok(())
    }
}

impl SqliteStore {
    fn token_client(&self, scheme: &str, kind: &str, token: &str) -> StoreResult<Option<String>> {
        let row: Option<(String, String, i64)> = self
            .conn()
            .query_row(
                "SELECT t.client_id, t.token_hash, t.expires_at FROM tokens t JOIN clients c ON c.scheme = t.scheme AND c.client_id = t.client_id
                 WHERE t.token_hash = ?1 AND t.scheme = ?2 AND t.kind = ?3 AND c.revoked = 0",
                params![hash_secret(token), scheme, kind],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(db)?;
        Ok(row.filter(|(_, _, exp)| *exp > now()).map(|(c, _, _)| c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_hashed_checked_and_revoked() {
        let s = SqliteStore::in_memory().unwrap();
        let c = s.add_client("cashfree", None).unwrap();
        assert!(s.check_client("cashfree", &c.client_id, &c.secret).unwrap());
        assert!(!s.check_client("cashfree", &c.client_id, "wrong").unwrap());
        assert!(!s.check_client("valify", &c.client_id, &c.secret).unwrap());
        assert_eq!(s.signing_secret("cashfree", &c.client_id).unwrap(), None);
        let listed = s.list_clients().unwrap();
        assert_eq!(listed.len(), 1);
        assert!(s.revoke_client("cashfree", &c.client_id).unwrap());
        assert!(!s.check_client("cashfree", &c.client_id, &c.secret).unwrap());
        let v = s.add_client("videosdk", Some("key1")).unwrap();
        assert_eq!(s.signing_secret("videosdk", "key1").unwrap(), Some(v.secret));
        assert!(matches!(s.add_client("videosdk", Some("key1")), Err(StoreError::Conflict)));
        assert!(s.provision_client("valify", "ops", "0123456789abcdef").unwrap());
        assert!(!s.provision_client("valify", "ops", "0123456789abcdef").unwrap(), "same secret: nothing changes");
        assert!(s.check_client("valify", "ops", "0123456789abcdef").unwrap());
        assert!(s.provision_client("valify", "ops", "fedcba9876543210").unwrap());
        assert!(!s.check_client("valify", "ops", "0123456789abcdef").unwrap(), "the old secret no longer works");
    }

    #[test]
    fn cashfree_ids_are_unique_and_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("fm-store-{}", std::process::id()));
        let path = dir.join("state.sqlite");
        {
            let s = SqliteStore::open(&path).unwrap();
            let r = s.reserve_cashfree_id("v-1", "c").unwrap();
            assert!(r > 0);
            s.complete_cashfree(&CashfreeRecord {
                verification_id: "v-1".into(),
                ref_id: r,
                status: "SUCCESS".into(),
                result: "YES".into(),
                score: 0.9,
            })
            .unwrap();
            s.reserve_cashfree_id("v-2", "c").unwrap();
            s.release_cashfree_id("v-2").unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        assert!(matches!(s.reserve_cashfree_id("v-1", "c"), Err(StoreError::Conflict)));
        assert!(s.reserve_cashfree_id("v-2", "c").is_ok(), "a released id may be used again");
        std::fs::remove_dir_all(&dir).ok();
    }
}
