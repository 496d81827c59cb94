//! The PostgreSQL store, shared by any number of `facematch serve` processes: every piece of state
//! lives in the database, and every rule that must hold across servers is enforced by it (a unique
//! key spends a Cashfree id once, a conditional UPDATE admits a Valify quota's N matches, row locks
//! serialize writes to one subject, an advisory lock one Idempotency-Key).
//!
//! tokio-postgres with a deadpool pool, driven by a small runtime of the store's own: the [`Store`]
//! trait is synchronous and is called from blocking threads (the server's `store_call`), where
//! blocking on this runtime is allowed.
use std::future::Future;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use subtle::ConstantTimeEq;
use tokio_postgres::{NoTls, Row};

use super::*;

/// Versioned schema migrations, applied in order once each (`schema_migrations` records them).
const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("001_initial.sql"))];

/// Any key for the advisory lock that serializes schema migrations of concurrently starting servers.
const MIGRATION_LOCK: i64 = 0x6661_6365_6d61_7463; // "facematc"

/// The advisory lock of [`Store::exclusively`].
const EXCLUSIVE_LOCK: i64 = MIGRATION_LOCK + 1;

/// A pooled connection's bounds: waiting for one, opening one, and any single statement.
const POOL_WAIT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const STATEMENT_TIMEOUT_MS: u32 = 30_000;
const POOL_SIZE: usize = 16;

pub struct PostgresStore {
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
}

fn db(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(d) => StoreError::Db(format!("PostgreSQL {}: {}", d.code().code(), d.message())),
        None => StoreError::Db(format!("PostgreSQL: {e}")),
    }
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Db(format!("PostgreSQL connection pool: {e}"))
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics on an async thread; this never blocks.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl PostgresStore {
    /// Connects (`postgres://user:pass@host:port/db`, or `postgres:///db?host=/socket/dir`) and
    /// brings the schema up to date. TLS is not built in: reach the database over a private network,
    /// a Unix socket or a tunnel.
    pub fn connect(url: &str) -> StoreResult<PostgresStore> {
        let mut pg: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Db(format!("--database-url: {e}")))?;
        pg.connect_timeout(CONNECT_TIMEOUT);
        pg.options(format!("-c statement_timeout={STATEMENT_TIMEOUT_MS}"));
        pg.application_name("facematch");
        let manager = Manager::from_config(pg, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("facematch-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Db(format!("PostgreSQL runtime: {e}")))?;
        let timeouts = Timeouts { wait: Some(POOL_WAIT), create: Some(CONNECT_TIMEOUT), recycle: Some(CONNECT_TIMEOUT) };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .timeouts(timeouts)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Db(format!("PostgreSQL connection pool: {e}")))?;
        let store = PostgresStore { rt: Some(rt), pool };
        store.block(store.migrate())?;
        Ok(store)
    }

    fn block<T>(&self, f: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        match &self.rt {
            Some(rt) => rt.block_on(f),
            None => Err(StoreError::Db("the PostgreSQL store is shut down".into())),
        }
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_err)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        // Servers starting together: one migrates, the others wait here and then find it done.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .await
            .map_err(db)?;
        let applied: Vec<i32> =
            tx.query("SELECT version FROM schema_migrations", &[]).await.map_err(db)?.iter().map(|r| r.get(0)).collect();
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| !applied.contains(v)) {
            tx.batch_execute(sql).await.map_err(db)?;
            tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", &[version, &now()]).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    /// True when the database holds no clients, subjects or vendor records (a migration target).
    pub fn is_empty(&self) -> StoreResult<bool> {
        self.block(async {
            let c = self.client().await?;
            let row = c
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM clients) + (SELECT COUNT(*) FROM subjects) + (SELECT COUNT(*) FROM tokens)
                          + (SELECT COUNT(*) FROM valify_bundles) + (SELECT COUNT(*) FROM cashfree_verifications)",
                    &[],
                )
                .await
                .map_err(db)?;
            Ok(row.get::<_, i64>(0) == 0)
        })
    }

    /// Copies a SQLite state file into this (empty) database in one transaction: clients and
    /// tokens (hashes as stored), Valify keys, quotas and transactions, Cashfree records with their
    /// reference ids, subjects, faces (embeddings, kept photos) and Idempotency-Keys.
    pub fn import_sqlite(&self, path: &std::path::Path) -> StoreResult<super::MigrationSummary> {
        super::migrate::sqlite_to_postgres(self, path)
    }

    pub(super) fn run<T>(&self, f: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        self.block(f)
    }

    pub(super) async fn pooled(&self) -> StoreResult<deadpool_postgres::Object> {
        self.client().await
    }
}

/// Takes the next `n` change-log positions (held, with the row lock, until the transaction ends)
/// and logs the faces whose state changed.
async fn log_faces(tx: &impl GenericClient, keys: &[i64]) -> StoreResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let n = keys.len() as i64;
    let end: i64 = tx.query_one("UPDATE gallery_position SET seq = seq + $1 RETURNING seq", &[&n]).await.map_err(db)?.get(0);
    let seqs: Vec<i64> = (end - n + 1..=end).collect();
    tx.execute("INSERT INTO gallery_log (seq, face_key) SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[])", &[&seqs, &keys])
        .await
        .map_err(db)?;
    Ok(())
}

/// Serializes requests with the same client and Idempotency-Key across servers, for this transaction.
async fn lock_once(tx: &impl GenericClient, once: Option<&Once<'_>>) -> StoreResult<()> {
    if let Some(o) = once {
        tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&format!("{}:{}{}", o.client_id.len(), o.client_id, o.key)])
            .await
            .map_err(db)?;
    }
    Ok(())
}

async fn earlier_write(tx: &impl GenericClient, once: Option<&Once<'_>>) -> StoreResult<Option<(String, String)>> {
    let Some(o) = once else { return Ok(None) };
    let row = tx
        .query_opt("SELECT request_hash, subject_id, face_id FROM idempotency WHERE client_id = $1 AND key = $2", &[&o.client_id, &o.key])
        .await
        .map_err(db)?;
    match row {
        Some(r) if r.get::<_, &str>(0) != o.request_hash => Err(StoreError::KeyReused),
        Some(r) => Ok(Some((r.get(1), r.get(2)))),
        None => Ok(None),
    }
}

async fn record_write(tx: &impl GenericClient, once: Option<&Once<'_>>, subject_id: &str, face_id: &str, now: &str) -> StoreResult<()> {
    let Some(o) = once else { return Ok(()) };
    tx.execute(
        "INSERT INTO idempotency (client_id, key, request_hash, subject_id, face_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&o.client_id, &o.key, &o.request_hash, &subject_id, &face_id, &now],
    )
    .await
    .map_err(db)?;
    Ok(())
}

async fn insert_face(tx: &impl GenericClient, subject_id: &str, face: &NewFace<'_>, now: &str) -> StoreResult<FaceInfo> {
    let mut info = FaceInfo::fresh(face, now);
    let row = tx
        .query_one(
            "INSERT INTO faces (face_id, subject_id, image_id, model, embedding, created_at, photo) VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING face_key",
            &[&info.face_id, &subject_id, &info.image_id, &info.model, &embedding_blob(face.embedding), &now, &face.sealed_photo],
        )
        .await
        .map_err(db)?;
    info.key = row.get(0);
    log_faces(tx, &[info.key]).await?;
    Ok(info)
}

async fn read_subject(c: &impl GenericClient, subject_id: &str) -> StoreResult<Option<Subject>> {
    let Some(r) = c
        .query_opt(
            "SELECT record, full_name, document_id, status, created_at, updated_at FROM subjects WHERE subject_id = $1",
            &[&subject_id],
        )
        .await
        .map_err(db)?
    else {
        return Ok(None);
    };
    let faces = c
        .query(
            "SELECT face_key, face_id, image_id, model, created_at, photo IS NOT NULL FROM faces WHERE subject_id = $1
             ORDER BY created_at, face_id",
            &[&subject_id],
        )
        .await
        .map_err(db)?
        .iter()
        .map(|f| FaceInfo {
            key: f.get(0),
            face_id: f.get(1),
            image_id: f.get(2),
            model: f.get(3),
            created_at: f.get(4),
            has_photo: f.get(5),
        })
        .collect();
    Ok(Some(Subject {
        subject_id: subject_id.to_string(),
        record: serde_json::from_str(r.get(0)).unwrap_or(serde_json::Value::Null),
        full_name: r.get(1),
        document_id: r.get(2),
        status: r.get(3),
        created_at: r.get(4),
        updated_at: r.get(5),
        faces,
    }))
}

fn face_row(r: &Row) -> FaceRow {
    FaceRow { key: r.get(0), face_id: r.get(1), subject_id: r.get(2), embedding: embedding_of(r.get(3)) }
}

/// A subject search on the parameter `$n` (all when NULL): the subject id's start, or a
/// case-insensitive part of the full name or document id (`strpos`, not `LIKE`: a user's `%` or `_`
/// is not a wildcard).
fn subject_filter(n: usize) -> String {
    let p = format!("${n}::text");
    format!(
        "({p} IS NULL OR left(subject_id, length({p})) = lower({p}) \
         OR strpos(lower(coalesce(full_name, '')), lower({p})) > 0 OR strpos(lower(coalesce(document_id, '')), lower({p})) > 0)"
    )
}

impl Store for PostgresStore {
    fn add_client(&self, scheme: &str, client_id: Option<&str>) -> StoreResult<NewClient> {
        let client_id = client_id.map(str::to_string).unwrap_or_else(|| format!("{scheme}-{}", random_hex(8)));
        let secret = random_hex(32);
        let signing = (scheme == "videosdk").then(|| secret.clone());
        let n = self.block(async {
            let c = self.client().await?;
            c.execute(
                "INSERT INTO clients (scheme, client_id, secret_hash, signing_secret, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
                &[&scheme, &client_id, &hash_secret(&secret), &signing, &now()],
            )
            .await
            .map_err(db)
        })?;
        if n == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(NewClient { scheme: scheme.to_string(), client_id, secret })
    }

    fn provision_client(&self, scheme: &str, client_id: &str, secret: &str) -> StoreResult<bool> {
        let signing = (scheme == "videosdk").then(|| secret.to_string());
        self.block(async {
            let c = self.client().await?;
            let n = c
                .execute(
                    "INSERT INTO clients (scheme, client_id, secret_hash, signing_secret, created_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (scheme, client_id) DO UPDATE SET secret_hash = excluded.secret_hash, signing_secret = excluded.signing_secret
                     WHERE clients.secret_hash <> excluded.secret_hash",
                    &[&scheme, &client_id, &hash_secret(secret), &signing, &now()],
                )
                .await
                .map_err(db)?;
            Ok(n > 0)
        })
    }

    fn client_by_secret(&self, scheme: &str, secret: &str) -> StoreResult<Option<String>> {
        // An index lookup by the secret's hash reveals nothing about the secret's bytes.
        self.block(async {
            let c = self.client().await?;
            let row = c
                .query_opt(
                    "SELECT client_id FROM clients WHERE scheme = $1 AND secret_hash = $2 AND NOT revoked",
                    &[&scheme, &hash_secret(secret)],
                )
                .await
                .map_err(db)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn list_clients(&self) -> StoreResult<Vec<Client>> {
        self.block(async {
            let c = self.client().await?;
            let rows =
                c.query("SELECT scheme, client_id, created_at, revoked FROM clients ORDER BY scheme, created_at", &[]).await.map_err(db)?;
            Ok(rows.iter().map(|r| Client { scheme: r.get(0), client_id: r.get(1), created_at: r.get(2), revoked: r.get(3) }).collect())
        })
    }

    fn revoke_client(&self, scheme: &str, client_id: &str) -> StoreResult<bool> {
        self.block(async {
            let c = self.client().await?;
            let n = c
                .execute("UPDATE clients SET revoked = TRUE WHERE scheme = $1 AND client_id = $2", &[&scheme, &client_id])
                .await
                .map_err(db)?;
            Ok(n > 0)
        })
    }

    fn check_client(&self, scheme: &str, client_id: &str, secret: &str) -> StoreResult<bool> {
        let stored: Option<String> = self.block(async {
            let c = self.client().await?;
            let row = c
                .query_opt("SELECT secret_hash FROM clients WHERE scheme = $1 AND client_id = $2 AND NOT revoked", &[&scheme, &client_id])
                .await
                .map_err(db)?;
            Ok(row.map(|r| r.get(0)))
        })?;
        let given = hash_secret(secret);
        // Compare even when the client is unknown, so timing does not tell which ids exist.
        let expected = stored.clone().unwrap_or_else(|| "0".repeat(64));
        let equal: bool = given.as_bytes().ct_eq(expected.as_bytes()).into();
        Ok(stored.is_some() && equal)
    }

    fn signing_secret(&self, scheme: &str, client_id: &str) -> StoreResult<Option<String>> {
        self.block(async {
            let c = self.client().await?;
            let row = c
                .query_opt(
                    "SELECT signing_secret FROM clients WHERE scheme = $1 AND client_id = $2 AND NOT revoked",
                    &[&scheme, &client_id],
                )
                .await
                .map_err(db)?;
            Ok(row.and_then(|r| r.get(0)))
        })
    }

    fn reserve_cashfree_id(&self, verification_id: &str, client_id: &str) -> StoreResult<i64> {
        // The unique key decides between servers receiving the same id at once: one row is inserted.
        let row = self.block(async {
            let c = self.client().await?;
            c.query_opt(
                "INSERT INTO cashfree_verifications (verification_id, client_id, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (verification_id) DO NOTHING RETURNING ref_id",
                &[&verification_id, &client_id, &now()],
            )
            .await
            .map_err(db)
        })?;
        row.map(|r| r.get(0)).ok_or(StoreError::Conflict)
    }

    fn release_cashfree_id(&self, verification_id: &str) -> StoreResult<()> {
        self.block(async {
            let c = self.client().await?;
            c.execute("DELETE FROM cashfree_verifications WHERE verification_id = $1 AND status IS NULL", &[&verification_id])
                .await
                .map_err(db)?;
            Ok(())
        })
    }

    fn complete_cashfree(&self, r: &CashfreeRecord) -> StoreResult<()> {
        self.block(async {
            let c = self.client().await?;
            c.execute(
                "UPDATE cashfree_verifications SET status = $2, result = $3, score = $4 WHERE verification_id = $1",
                &[&r.verification_id, &r.status, &r.result, &r.score],
            )
            .await
            .map_err(db)?;
            Ok(())
        })
    }

    fn issue_token(&self, scheme: &str, client_id: &str, kind: &str, ttl_secs: i64) -> StoreResult<String> {
        let token = random_hex(32);
        self.block(async {
            let c = self.client().await?;
            c.execute(
                "INSERT INTO tokens (token_hash, scheme, client_id, kind, expires_at) VALUES ($1, $2, $3, $4, $5)",
                &[&hash_secret(&token), &scheme, &client_id, &kind, &(now() + ttl_secs)],
            )
            .await
            .map_err(db)?;
            Ok(())
        })?;
        Ok(token)
    }

    fn check_token(&self, scheme: &str, kind: &str, token: &str) -> StoreResult<Option<String>> {
        // Looked up by hash: the index lookup reveals nothing about the token's bytes. Revocation is
        // read from the database on every check, so every server refuses a revoked client at once.
        self.block(async {
            let c = self.client().await?;
            let row = c
                .query_opt(
                    "SELECT t.client_id FROM tokens t JOIN clients c ON c.scheme = t.scheme AND c.client_id = t.client_id
                     WHERE t.token_hash = $1 AND t.scheme = $2 AND t.kind = $3 AND NOT c.revoked AND t.expires_at > $4",
                    &[&hash_secret(token), &scheme, &kind, &now()],
                )
                .await
                .map_err(db)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn add_bundle_key(&self, quota: Option<i64>) -> StoreResult<String> {
        let key = random_hex(16);
        self.block(async {
            let c = self.client().await?;
            c.execute("INSERT INTO valify_bundles (bundle_key, quota) VALUES ($1, $2)", &[&key, &quota]).await.map_err(db)?;
            Ok(())
        })?;
        Ok(key)
    }

    fn bundle_keys(&self) -> StoreResult<Vec<String>> {
        self.block(async {
            let c = self.client().await?;
            Ok(c.query("SELECT bundle_key FROM valify_bundles", &[]).await.map_err(db)?.iter().map(|r| r.get(0)).collect())
        })
    }

    fn use_bundle_trial(&self, bundle_key: &str) -> StoreResult<BundleUse> {
        // One conditional UPDATE: the row lock makes concurrent servers take turns, and each
        // re-checks the quota against the committed count, so exactly `quota` trials succeed.
        self.block(async {
            let c = self.client().await?;
            let spent = c
                .query_opt(
                    "UPDATE valify_bundles SET used = used + 1 WHERE bundle_key = $1 AND (quota IS NULL OR used < quota)
                     RETURNING quota, used",
                    &[&bundle_key],
                )
                .await
                .map_err(db)?;
            if let Some(r) = spent {
                let (quota, used): (Option<i64>, i64) = (r.get(0), r.get(1));
                return Ok(BundleUse::Ok { remaining: quota.map(|q| q - used) });
            }
            let exists = c.query_opt("SELECT 1 FROM valify_bundles WHERE bundle_key = $1", &[&bundle_key]).await.map_err(db)?;
            Ok(if exists.is_some() { BundleUse::Exhausted } else { BundleUse::Unknown })
        })
    }

    fn record_valify(&self, t: &ValifyTransaction) -> StoreResult<()> {
        self.block(async {
            let c = self.client().await?;
            c.execute(
                "INSERT INTO valify_transactions (transaction_id, bundle_key, client_id, is_similar, confidence, error_code, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&t.transaction_id, &t.bundle_key, &t.client_id, &t.is_similar, &t.confidence, &t.error_code, &now()],
            )
            .await
            .map_err(db)?;
            Ok(())
        })
    }

    fn create_subject(&self, record: &serde_json::Value, face: &NewFace) -> StoreResult<Subject> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(db)?;
            lock_once(&tx, face.once.as_ref()).await?;
            if let Some((subject_id, _)) = earlier_write(&tx, face.once.as_ref()).await? {
                return read_subject(&tx, &subject_id).await?.ok_or(StoreError::KeyTargetGone);
            }
            let subject_id = uuid::Uuid::new_v4().to_string();
            let now = iso_now();
            let (full_name, document_id, status) = super::indexed(record);
            tx.execute(
                "INSERT INTO subjects (subject_id, record, full_name, document_id, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
                &[&subject_id, &record.to_string(), &full_name, &document_id, &status, &now],
            )
            .await
            .map_err(db)?;
            let info = insert_face(&tx, &subject_id, face, &now).await?;
            record_write(&tx, face.once.as_ref(), &subject_id, &info.face_id, &now).await?;
            let subject = read_subject(&tx, &subject_id).await?;
            tx.commit().await.map_err(db)?;
            subject.ok_or_else(|| StoreError::Db("subject vanished during its own transaction".into()))
        })
    }

    fn add_face(&self, subject_id: &str, face: &NewFace) -> StoreResult<Option<FaceInfo>> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(db)?;
            lock_once(&tx, face.once.as_ref()).await?;
            if let Some((first_subject, face_id)) = earlier_write(&tx, face.once.as_ref()).await? {
                let s = read_subject(&tx, &first_subject).await?.ok_or(StoreError::KeyTargetGone)?;
                return s.faces.into_iter().find(|f| f.face_id == face_id).map(Some).ok_or(StoreError::KeyTargetGone);
            }
            // The row lock orders this against a concurrent delete of the subject on another server.
            let exists = tx.query_opt("SELECT 1 FROM subjects WHERE subject_id = $1 FOR UPDATE", &[&subject_id]).await.map_err(db)?;
            if exists.is_none() {
                return Ok(None);
            }
            let now = iso_now();
            let info = insert_face(&tx, subject_id, face, &now).await?;
            record_write(&tx, face.once.as_ref(), subject_id, &info.face_id, &now).await?;
            tx.execute("UPDATE subjects SET updated_at = $2 WHERE subject_id = $1", &[&subject_id, &now]).await.map_err(db)?;
            tx.commit().await.map_err(db)?;
            Ok(Some(info))
        })
    }

    fn subject(&self, subject_id: &str) -> StoreResult<Option<Subject>> {
        self.block(async { read_subject(&self.client().await?, subject_id).await })
    }

    fn list_subjects(&self, offset: i64, limit: i64, filter: Option<&str>) -> StoreResult<Vec<Subject>> {
        self.block(async {
            let c = self.client().await?;
            let sql =
                format!("SELECT subject_id FROM subjects WHERE {} ORDER BY created_at, subject_id LIMIT $1 OFFSET $2", subject_filter(3));
            let ids: Vec<String> = c.query(&sql, &[&limit, &offset, &filter]).await.map_err(db)?.iter().map(|r| r.get(0)).collect();
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(s) = read_subject(&c, &id).await? {
                    out.push(s);
                }
            }
            Ok(out)
        })
    }

    fn count_subjects(&self, filter: Option<&str>) -> StoreResult<i64> {
        let sql = format!("SELECT COUNT(*) FROM subjects WHERE {}", subject_filter(1));
        self.block(async { Ok(self.client().await?.query_one(&sql, &[&filter]).await.map_err(db)?.get(0)) })
    }

    fn update_subject(
        &self,
        subject_id: &str,
        patch: &serde_json::Value,
        max_record_bytes: usize,
        once: Option<Once>,
    ) -> StoreResult<RecordUpdate> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(db)?;
            lock_once(&tx, once.as_ref()).await?;
            if earlier_write(&tx, once.as_ref()).await?.is_some() {
                return read_subject(&tx, subject_id).await?.map(RecordUpdate::Updated).ok_or(StoreError::KeyTargetGone);
            }
            // Row lock: two servers patching one record apply their patches one after the other.
            if tx.query_opt("SELECT 1 FROM subjects WHERE subject_id = $1 FOR UPDATE", &[&subject_id]).await.map_err(db)?.is_none() {
                return Ok(RecordUpdate::NotFound);
            }
            let Some(mut subject) = read_subject(&tx, subject_id).await? else { return Ok(RecordUpdate::NotFound) };
            let Some(p) = super::patch_record(&mut subject, patch, max_record_bytes) else { return Ok(RecordUpdate::TooLarge) };
            let now = iso_now();
            tx.execute(
                "UPDATE subjects SET record = $2, full_name = $3, document_id = $4, status = $5, updated_at = $6 WHERE subject_id = $1",
                &[&subject_id, &p.text, &p.full_name, &p.document_id, &p.status, &now],
            )
            .await
            .map_err(db)?;
            record_write(&tx, once.as_ref(), subject_id, "", &now).await?;
            let updated = read_subject(&tx, subject_id).await?;
            tx.commit().await.map_err(db)?;
            Ok(updated.map_or(RecordUpdate::NotFound, RecordUpdate::Updated))
        })
    }

    fn delete_subject(&self, subject_id: &str, once: Option<Once>) -> StoreResult<Option<Vec<i64>>> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(db)?;
            lock_once(&tx, once.as_ref()).await?;
            if earlier_write(&tx, once.as_ref()).await?.is_some() {
                return Ok(Some(Vec::new()));
            }
            if tx.query_opt("SELECT 1 FROM subjects WHERE subject_id = $1 FOR UPDATE", &[&subject_id]).await.map_err(db)?.is_none() {
                return Ok(None);
            }
            let keys: Vec<i64> = tx
                .query("DELETE FROM faces WHERE subject_id = $1 RETURNING face_key", &[&subject_id])
                .await
                .map_err(db)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            tx.execute("DELETE FROM subjects WHERE subject_id = $1", &[&subject_id]).await.map_err(db)?;
            log_faces(&tx, &keys).await?;
            record_write(&tx, once.as_ref(), subject_id, "", &iso_now()).await?;
            tx.commit().await.map_err(db)?;
            Ok(Some(keys))
        })
    }

    fn face_photo(&self, subject_id: &str, face_id: &str) -> StoreResult<Option<Vec<u8>>> {
        self.block(async {
            let c = self.client().await?;
            let row = c
                .query_opt("SELECT photo FROM faces WHERE subject_id = $1 AND face_id = $2", &[&subject_id, &face_id])
                .await
                .map_err(db)?;
            Ok(row.and_then(|r| r.get(0)))
        })
    }

    fn faces(&self, model: &str, f: &mut dyn FnMut(FaceRow)) -> StoreResult<()> {
        self.gallery_snapshot(model, f).map(|_| ())
    }

    fn faces_by_key(&self, keys: &[i64]) -> StoreResult<Vec<FaceRow>> {
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .query("SELECT face_key, face_id, subject_id, embedding FROM faces WHERE face_key = ANY($1)", &[&keys])
                .await
                .map_err(db)?;
            Ok(rows.iter().map(face_row).collect())
        })
    }

    fn face_models(&self) -> StoreResult<Vec<(String, i64)>> {
        self.block(async {
            let c = self.client().await?;
            let rows = c.query("SELECT model, COUNT(*) FROM faces GROUP BY model ORDER BY model", &[]).await.map_err(db)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn gallery_feed(&self) -> Option<&dyn GalleryFeed> {
        Some(self)
    }

    fn exclusively(&self, f: &mut dyn FnMut() -> StoreResult<()>) -> StoreResult<()> {
        // A session lock held on one pooled connection while `f` works through the others.
        let held = self.block(async {
            let c = self.client().await?;
            c.execute("SELECT pg_advisory_lock($1)", &[&EXCLUSIVE_LOCK]).await.map_err(db)?;
            Ok(c)
        })?;
        let result = f();
        let unlocked = self.block(async move { held.execute("SELECT pg_advisory_unlock($1)", &[&EXCLUSIVE_LOCK]).await.map_err(db) });
        result.and(unlocked.map(|_| ()))
    }
}

/// Rows fetched per round trip while loading the gallery (bounded memory for any gallery size).
const SNAPSHOT_BATCH: i64 = 20_000;

impl GalleryFeed for PostgresStore {
    fn gallery_snapshot(&self, model: &str, f: &mut dyn FnMut(FaceRow)) -> StoreResult<i64> {
        self.block(async {
            let mut c = self.client().await?;
            // One snapshot: the position and the faces are read as of the same moment, so every change
            // after the position is one the faces do not yet reflect.
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(db)?;
            let position: i64 = tx.query_one("SELECT seq FROM gallery_position", &[]).await.map_err(db)?.get(0);
            let mut after = 0i64;
            loop {
                let rows = tx
                    .query(
                        "SELECT face_key, face_id, subject_id, embedding FROM faces WHERE model = $1 AND face_key > $2
                         ORDER BY face_key LIMIT $3",
                        &[&model, &after, &SNAPSHOT_BATCH],
                    )
                    .await
                    .map_err(db)?;
                for r in &rows {
                    let row = face_row(r);
                    after = row.key;
                    f(row);
                }
                if (rows.len() as i64) < SNAPSHOT_BATCH {
                    break;
                }
            }
            tx.commit().await.map_err(db)?;
            Ok(position)
        })
    }

    fn gallery_changes(&self, model: &str, after: i64, limit: i64) -> StoreResult<Vec<FaceChange>> {
        self.block(async {
            let c = self.client().await?;
            // Each logged face as it is now: present (with this model) or gone.
            let rows = c
                .query(
                    "SELECT l.seq, l.face_key, f.face_id, f.subject_id, f.embedding FROM gallery_log l
                     LEFT JOIN faces f ON f.face_key = l.face_key AND f.model = $1
                     WHERE l.seq > $2 ORDER BY l.seq LIMIT $3",
                    &[&model, &after, &limit],
                )
                .await
                .map_err(db)?;
            Ok(rows
                .iter()
                .map(|r| {
                    let key: i64 = r.get(1);
                    let face = r.get::<_, Option<String>>(2).map(|face_id| FaceRow {
                        key,
                        face_id,
                        subject_id: r.get(3),
                        embedding: embedding_of(r.get(4)),
                    });
                    FaceChange { seq: r.get(0), key, face }
                })
                .collect())
        })
    }
}
