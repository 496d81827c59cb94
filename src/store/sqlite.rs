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
    // v3: enrolled subjects (KYC record as JSON plus indexed fields) and their face embeddings.
    "CREATE TABLE subjects (
        subject_id TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        full_name TEXT,
        document_id TEXT,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX subjects_document ON subjects(document_id);
    CREATE INDEX subjects_created ON subjects(created_at);
    CREATE TABLE faces (
        face_id TEXT PRIMARY KEY,
        subject_id TEXT NOT NULL REFERENCES subjects(subject_id) ON DELETE CASCADE,
        image_id TEXT NOT NULL,
        model TEXT NOT NULL,
        embedding BLOB NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX faces_subject ON faces(subject_id);
    CREATE INDEX faces_model ON faces(model);",
    // v4: enrolled photos, encrypted, only when the operator configures a photo key.
    "ALTER TABLE faces ADD COLUMN photo BLOB;",
    // v5: Idempotency-Keys of subject writes: what each (client, key) wrote, and for which request.
    "CREATE TABLE idempotency (
        client_id TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        face_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (client_id, key)
    );",
];

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Db(e.to_string())
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
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        // Deleted rows (a removed subject's embeddings) are overwritten with zeros, not just unlinked.
        conn.pragma_update(None, "secure_delete", "ON").map_err(db)?;
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

/// A subject search on the parameter `p` (all when NULL): the subject id's start, or a
/// case-insensitive part of the full name or document id. `instr`, not `LIKE`: a user's `%` or `_`
/// is not a wildcard.
fn subject_filter(p: &str) -> String {
    format!(
        "({p} IS NULL OR substr(subject_id, 1, length({p})) = lower({p}) \
         OR instr(lower(coalesce(full_name, '')), lower({p})) > 0 OR instr(lower(coalesce(document_id, '')), lower({p})) > 0)"
    )
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

    fn client_by_secret(&self, scheme: &str, secret: &str) -> StoreResult<Option<String>> {
        // An index lookup by the secret's hash reveals nothing about the secret's bytes.
        self.conn()
            .query_row(
                "SELECT client_id FROM clients WHERE scheme = ?1 AND secret_hash = ?2 AND revoked = 0",
                params![scheme, hash_secret(secret)],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)
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

    fn create_subject(&self, record: &serde_json::Value, face: &NewFace) -> StoreResult<Subject> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db)?;
        if let Some((subject_id, _)) = earlier_write(&tx, face.once.as_ref())? {
            return read_subject(&tx, &subject_id).map_err(db)?.ok_or(StoreError::KeyTargetGone);
        }
        let subject_id = uuid::Uuid::new_v4().to_string();
        let now = iso_now();
        let (full_name, document_id, status) = super::indexed(record);
        tx.execute(
            "INSERT INTO subjects (subject_id, record, full_name, document_id, status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![subject_id, record.to_string(), full_name, document_id, status, now],
        )
        .map_err(db)?;
        let info = insert_face(&tx, &subject_id, face, &now).map_err(db)?;
        record_write(&tx, face.once.as_ref(), &subject_id, &info.face_id, &now)?;
        let subject = read_subject(&tx, &subject_id).map_err(db)?;
        tx.commit().map_err(db)?;
        subject.ok_or_else(|| StoreError::Db("subject vanished during its own transaction".into()))
    }

    fn add_face(&self, subject_id: &str, face: &NewFace) -> StoreResult<Option<FaceInfo>> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db)?;
        if let Some((first_subject, face_id)) = earlier_write(&tx, face.once.as_ref())? {
            // The request fingerprint covers the path, so the subject is this one.
            let s = read_subject(&tx, &first_subject).map_err(db)?.ok_or(StoreError::KeyTargetGone)?;
            return s.faces.into_iter().find(|f| f.face_id == face_id).map(Some).ok_or(StoreError::KeyTargetGone);
        }
        let exists: Option<i64> =
            tx.query_row("SELECT 1 FROM subjects WHERE subject_id = ?1", params![subject_id], |r| r.get(0)).optional().map_err(db)?;
        if exists.is_none() {
            return Ok(None);
        }
        let now = iso_now();
        let info = insert_face(&tx, subject_id, face, &now).map_err(db)?;
        record_write(&tx, face.once.as_ref(), subject_id, &info.face_id, &now)?;
        tx.execute("UPDATE subjects SET updated_at = ?2 WHERE subject_id = ?1", params![subject_id, now]).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Some(info))
    }

    fn subject(&self, subject_id: &str) -> StoreResult<Option<Subject>> {
        read_subject(&self.conn(), subject_id).map_err(db)
    }

    fn list_subjects(&self, offset: i64, limit: i64, filter: Option<&str>) -> StoreResult<Vec<Subject>> {
        let conn = self.conn();
        let ids: Vec<String> = {
            let sql = format!(
                "SELECT subject_id FROM subjects WHERE {} ORDER BY created_at, subject_id LIMIT ?1 OFFSET ?2",
                subject_filter("?3")
            );
            let mut st = conn.prepare(&sql).map_err(db)?;
            let rows = st.query_map(params![limit, offset, filter], |r| r.get(0)).map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)?
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = read_subject(&conn, &id).map_err(db)? {
                out.push(s);
            }
        }
        Ok(out)
    }

    fn count_subjects(&self, filter: Option<&str>) -> StoreResult<i64> {
        let sql = format!("SELECT COUNT(*) FROM subjects WHERE {}", subject_filter("?1"));
        self.conn().query_row(&sql, params![filter], |r| r.get(0)).map_err(db)
    }

    fn update_subject(
        &self,
        subject_id: &str,
        patch: &serde_json::Value,
        max_record_bytes: usize,
        once: Option<Once>,
    ) -> StoreResult<RecordUpdate> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db)?;
        if earlier_write(&tx, once.as_ref())?.is_some() {
            // The fingerprint covers the path, so the subject is this one.
            return read_subject(&tx, subject_id).map_err(db)?.map(RecordUpdate::Updated).ok_or(StoreError::KeyTargetGone);
        }
        let Some(mut subject) = read_subject(&tx, subject_id).map_err(db)? else { return Ok(RecordUpdate::NotFound) };
        // Returning early drops the transaction, which rolls it back: nothing was written.
        let Some(p) = super::patch_record(&mut subject, patch, max_record_bytes) else { return Ok(RecordUpdate::TooLarge) };
        let now = iso_now();
        tx.execute(
            "UPDATE subjects SET record = ?2, full_name = ?3, document_id = ?4, status = ?5, updated_at = ?6 WHERE subject_id = ?1",
            params![subject_id, p.text, p.full_name, p.document_id, p.status, now],
        )
        .map_err(db)?;
        record_write(&tx, once.as_ref(), subject_id, "", &now)?;
        let updated = read_subject(&tx, subject_id).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(updated.map_or(RecordUpdate::NotFound, RecordUpdate::Updated))
    }

    fn delete_subject(&self, subject_id: &str, once: Option<Once>) -> StoreResult<Option<Vec<i64>>> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db)?;
        if earlier_write(&tx, once.as_ref())?.is_some() {
            return Ok(Some(Vec::new()));
        }
        let keys: Vec<i64> = {
            let mut st = tx.prepare("SELECT rowid FROM faces WHERE subject_id = ?1").map_err(db)?;
            let rows = st.query_map(params![subject_id], |r| r.get(0)).map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)?
        };
        let n = tx.execute("DELETE FROM subjects WHERE subject_id = ?1", params![subject_id]).map_err(db)?;
        if n > 0 {
            record_write(&tx, once.as_ref(), subject_id, "", &iso_now())?;
        }
        tx.commit().map_err(db)?;
        if n > 0 {
            // The WAL still holds the pages as they were before the delete: copy the zeroed pages
            // into the database file and truncate the log, so no copy of the embedding remains.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(db)?;
        }
        Ok((n > 0).then_some(keys))
    }

    fn face_photo(&self, subject_id: &str, face_id: &str) -> StoreResult<Option<Vec<u8>>> {
        self.conn()
            .query_row("SELECT photo FROM faces WHERE subject_id = ?1 AND face_id = ?2", params![subject_id, face_id], |r| r.get(0))
            .optional()
            .map(Option::flatten)
            .map_err(db)
    }

    fn faces(&self, model: &str, f: &mut dyn FnMut(FaceRow)) -> StoreResult<()> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT rowid, face_id, subject_id, embedding FROM faces WHERE model = ?1").map_err(db)?;
        let mut rows = st.query(params![model]).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            f(face_row(r).map_err(db)?);
        }
        Ok(())
    }

    fn faces_by_key(&self, keys: &[i64]) -> StoreResult<Vec<FaceRow>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT rowid, face_id, subject_id, embedding FROM faces WHERE rowid = ?1").map_err(db)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(row) = st.query_row(params![key], face_row).optional().map_err(db)? {
                out.push(row);
            }
        }
        Ok(out)
    }

    fn face_models(&self) -> StoreResult<Vec<(String, i64)>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT model, COUNT(*) FROM faces GROUP BY model ORDER BY model").map_err(db)?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)
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

use super::iso_now;

fn face_row(r: &rusqlite::Row) -> rusqlite::Result<FaceRow> {
    let blob: Vec<u8> = r.get(3)?;
    Ok(FaceRow { key: r.get(0)?, face_id: r.get(1)?, subject_id: r.get(2)?, embedding: embedding_of(&blob) })
}

/// What an earlier request with this client's key wrote: (subject id, face id); `KeyReused` when
/// that request was a different one.
fn earlier_write(tx: &Connection, once: Option<&Once>) -> StoreResult<Option<(String, String)>> {
    let Some(o) = once else { return Ok(None) };
    let row: Option<(String, String, String)> = tx
        .query_row(
            "SELECT request_hash, subject_id, face_id FROM idempotency WHERE client_id = ?1 AND key = ?2",
            params![o.client_id, o.key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(db)?;
    match row {
        Some((hash, _, _)) if hash != o.request_hash => Err(StoreError::KeyReused),
        Some((_, subject_id, face_id)) => Ok(Some((subject_id, face_id))),
        None => Ok(None),
    }
}

fn record_write(tx: &Connection, once: Option<&Once>, subject_id: &str, face_id: &str, now: &str) -> StoreResult<()> {
    let Some(o) = once else { return Ok(()) };
    tx.execute(
        "INSERT INTO idempotency (client_id, key, request_hash, subject_id, face_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![o.client_id, o.key, o.request_hash, subject_id, face_id, now],
    )
    .map_err(db)?;
    Ok(())
}

fn insert_face(tx: &Connection, subject_id: &str, face: &NewFace, now: &str) -> rusqlite::Result<FaceInfo> {
    let mut info = FaceInfo::fresh(face, now);
    tx.execute(
        "INSERT INTO faces (face_id, subject_id, image_id, model, embedding, created_at, photo) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![info.face_id, subject_id, info.image_id, info.model, embedding_blob(face.embedding), now, face.sealed_photo],
    )?;
    // The rowid is the gallery's key: stable, since this file is never VACUUMed (which may renumber it).
    info.key = tx.last_insert_rowid();
    Ok(info)
}

fn read_subject(conn: &Connection, subject_id: &str) -> rusqlite::Result<Option<Subject>> {
    let row = conn
        .query_row(
            "SELECT record, full_name, document_id, status, created_at, updated_at FROM subjects WHERE subject_id = ?1",
            params![subject_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            },
        )
        .optional()?;
    let Some((record, full_name, document_id, status, created_at, updated_at)) = row else { return Ok(None) };
    let mut st = conn.prepare_cached(
        "SELECT rowid, face_id, image_id, model, created_at, photo IS NOT NULL FROM faces WHERE subject_id = ?1 ORDER BY created_at, face_id",
    )?;
    let faces = st
        .query_map(params![subject_id], |r| {
            Ok(FaceInfo {
                key: r.get(0)?,
                face_id: r.get(1)?,
                image_id: r.get(2)?,
                model: r.get(3)?,
                created_at: r.get(4)?,
                has_photo: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Subject {
        subject_id: subject_id.to_string(),
        record: serde_json::from_str(&record).unwrap_or(serde_json::Value::Null),
        full_name,
        document_id,
        status,
        created_at,
        updated_at,
        faces,
    }))
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
    fn subjects_enroll_patch_and_delete() {
        let s = SqliteStore::in_memory().unwrap();
        let e = [0.5f32; 8];
        let subj = s
            .create_subject(
                &serde_json::json!({"fullName": "Ada", "documentId": "X1", "kyc": {"a": 1}}),
                &NewFace { embedding: &e, model: "m1", sealed_photo: None, once: None },
            )
            .unwrap();
        assert_eq!((subj.full_name.as_deref(), subj.document_id.as_deref(), subj.status.as_str()), (Some("Ada"), Some("X1"), "ACCEPTED"));
        assert_eq!(subj.faces.len(), 1);
        s.add_face(&subj.subject_id, &NewFace { embedding: &e, model: "m2", sealed_photo: None, once: None }).unwrap().unwrap();
        assert!(s.add_face("nobody", &NewFace { embedding: &e, model: "m1", sealed_photo: None, once: None }).unwrap().is_none());
        assert_eq!(s.face_models().unwrap(), vec![("m1".to_string(), 1), ("m2".to_string(), 1)]);
        let RecordUpdate::Updated(patched) =
            s.update_subject(&subj.subject_id, &serde_json::json!({"fullName": "Ada L", "kyc": {"a": null, "b": 2}}), 1024, None).unwrap()
        else {
            panic!("not updated")
        };
        assert_eq!(patched.record, serde_json::json!({"fullName": "Ada L", "documentId": "X1", "kyc": {"b": 2}}));
        assert_eq!(patched.full_name.as_deref(), Some("Ada L"));
        let big = serde_json::json!({"blob": "x".repeat(2000)});
        assert_eq!(s.update_subject(&subj.subject_id, &big, 1024, None).unwrap(), RecordUpdate::TooLarge);
        assert_eq!(s.subject(&subj.subject_id).unwrap().unwrap().record, patched.record, "a refused patch writes nothing");
        assert_eq!(s.update_subject("nobody", &big, 1024, None).unwrap(), RecordUpdate::NotFound);
        let mut n = 0;
        s.faces("m1", &mut |f| {
            assert_eq!(f.embedding, e.to_vec());
            n += 1
        })
        .unwrap();
        assert_eq!(n, 1);
        assert_eq!(s.count_subjects(None).unwrap(), 1);
        // Search: a part of the name in any case, a document id, an id's start; `%` is no wildcard.
        for hit in ["ada", "ADA L", "x1", &subj.subject_id[..6]] {
            assert_eq!(s.list_subjects(0, 10, Some(hit)).unwrap().len(), 1, "{hit}");
        }
        for miss in ["%", "_", "grace", "zz"] {
            assert_eq!(s.count_subjects(Some(miss)).unwrap(), 0, "{miss}");
        }
        let keys: Vec<i64> = s.subject(&subj.subject_id).unwrap().unwrap().faces.iter().map(|f| f.key).collect();
        assert_eq!(s.delete_subject(&subj.subject_id, None).unwrap(), Some(keys), "the keys of every face removed");
        assert!(s.delete_subject(&subj.subject_id, None).unwrap().is_none());
        assert!(s.face_models().unwrap().is_empty(), "faces go with their subject");
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
