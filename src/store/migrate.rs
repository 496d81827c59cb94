//! `facematch migrate --from sqlite:PATH --to postgres://…`: an existing single-server deployment
//! moved into PostgreSQL, row for row, in one transaction (all or nothing).
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::postgres::PostgresStore;
use super::{StoreError, StoreResult};

/// Rows copied per table.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationSummary {
    pub clients: u64,
    pub tokens: u64,
    pub valify_bundles: u64,
    pub valify_transactions: u64,
    pub cashfree_verifications: u64,
    pub subjects: u64,
    pub faces: u64,
    pub idempotency_keys: u64,
}

fn lite(e: rusqlite::Error) -> StoreError {
    StoreError::Db(format!("SQLite source: {e}"))
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(d) => StoreError::Db(format!("PostgreSQL {}: {}", d.code().code(), d.message())),
        None => StoreError::Db(format!("PostgreSQL: {e}")),
    }
}

/// Every row of `sql` from the SQLite file, converted by `row`.
fn rows<T>(src: &Connection, sql: &str, row: impl Fn(&rusqlite::Row) -> rusqlite::Result<T>) -> StoreResult<Vec<T>> {
    let mut st = src.prepare(sql).map_err(lite)?;
    let out = st.query_map([], |r| row(r)).map_err(lite)?.collect::<Result<Vec<T>, _>>().map_err(lite);
    out
}

type ClientRow = (String, String, String, Option<String>, i64, i64);
type CashfreeRow = (i64, String, String, Option<String>, Option<String>, Option<f64>, i64);
type TransactionRow = (String, String, String, Option<i64>, Option<f64>, Option<i64>, i64);
type SubjectRow = (String, String, Option<String>, Option<String>, String, String, String);
type FaceRowData = (String, String, String, String, Vec<u8>, String, Option<Vec<u8>>);

pub(super) fn sqlite_to_postgres(dst: &PostgresStore, path: &Path) -> StoreResult<MigrationSummary> {
    if !path.is_file() {
        return Err(StoreError::Db(format!("--from: no SQLite state file at {}", path.display())));
    }
    // Opening through the store applies its migrations, so every table below exists.
    drop(super::SqliteStore::open(path)?);
    let src = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(lite)?;
    if !dst.is_empty()? {
        return Err(StoreError::Db("--to: the PostgreSQL database already holds clients or subjects; migrate into an empty one".into()));
    }
    let clients: Vec<ClientRow> =
        rows(&src, "SELECT scheme, client_id, secret_hash, signing_secret, created_at, revoked FROM clients", |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })?;
    let tokens: Vec<(String, String, String, String, i64)> =
        rows(&src, "SELECT token_hash, scheme, client_id, kind, expires_at FROM tokens", |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
    let bundles: Vec<(String, Option<i64>, i64)> =
        rows(&src, "SELECT bundle_key, quota, used FROM valify_bundles", |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let transactions: Vec<TransactionRow> = rows(
        &src,
        "SELECT transaction_id, bundle_key, client_id, is_similar, confidence, error_code, created_at FROM valify_transactions",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
    )?;
    let cashfree: Vec<CashfreeRow> =
        rows(&src, "SELECT ref_id, verification_id, client_id, status, result, score, created_at FROM cashfree_verifications", |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })?;
    let subjects: Vec<SubjectRow> =
        rows(&src, "SELECT subject_id, record, full_name, document_id, status, created_at, updated_at FROM subjects", |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })?;
    let faces: Vec<FaceRowData> =
        rows(&src, "SELECT face_id, subject_id, image_id, model, embedding, created_at, photo FROM faces ORDER BY rowid", |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })?;
    let idempotency: Vec<(String, String, String, String, String, String)> =
        rows(&src, "SELECT client_id, key, request_hash, subject_id, face_id, created_at FROM idempotency", |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })?;
    dst.run(async {
        let mut c = dst.pooled().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let mut summary = MigrationSummary::default();
        let st = tx
            .prepare("INSERT INTO clients (scheme, client_id, secret_hash, signing_secret, created_at, revoked) VALUES ($1, $2, $3, $4, $5, $6)")
            .await
            .map_err(pg)?;
        for (scheme, id, hash, signing, created, revoked) in &clients {
            summary.clients += tx.execute(&st, &[scheme, id, hash, signing, created, &(*revoked != 0)]).await.map_err(pg)?;
        }
        let st = tx
            .prepare("INSERT INTO tokens (token_hash, scheme, client_id, kind, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .await
            .map_err(pg)?;
        for (hash, scheme, id, kind, expires) in &tokens {
            summary.tokens += tx.execute(&st, &[hash, scheme, id, kind, expires]).await.map_err(pg)?;
        }
        let st = tx.prepare("INSERT INTO valify_bundles (bundle_key, quota, used) VALUES ($1, $2, $3)").await.map_err(pg)?;
        for (key, quota, used) in &bundles {
            summary.valify_bundles += tx.execute(&st, &[key, quota, used]).await.map_err(pg)?;
        }
        let st = tx
            .prepare(
                "INSERT INTO valify_transactions (transaction_id, bundle_key, client_id, is_similar, confidence, error_code, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(pg)?;
        for (id, key, client, similar, confidence, code, created) in &transactions {
            let similar = similar.map(|s| s != 0);
            summary.valify_transactions += tx.execute(&st, &[id, key, client, &similar, confidence, code, created]).await.map_err(pg)?;
        }
        let st = tx
            .prepare(
                "INSERT INTO cashfree_verifications (ref_id, verification_id, client_id, status, result, score, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(pg)?;
        for (ref_id, vid, client, status, result, score, created) in &cashfree {
            summary.cashfree_verifications += tx.execute(&st, &[ref_id, vid, client, status, result, score, created]).await.map_err(pg)?;
        }
        // New Cashfree reference ids continue after the migrated ones.
        tx.execute(
            "SELECT setval(pg_get_serial_sequence('cashfree_verifications', 'ref_id'), GREATEST((SELECT MAX(ref_id) FROM cashfree_verifications), 1))",
            &[],
        )
        .await
        .map_err(pg)?;
        let st = tx
            .prepare(
                "INSERT INTO subjects (subject_id, record, full_name, document_id, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(pg)?;
        for (id, record, name, doc, status, created, updated) in &subjects {
            summary.subjects += tx.execute(&st, &[id, record, name, doc, status, created, updated]).await.map_err(pg)?;
        }
        let st = tx
            .prepare(
                "INSERT INTO faces (face_id, subject_id, image_id, model, embedding, created_at, photo) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(pg)?;
        for (face_id, subject_id, image_id, model, embedding, created, photo) in &faces {
            summary.faces += tx.execute(&st, &[face_id, subject_id, image_id, model, embedding, created, photo]).await.map_err(pg)?;
        }
        // Logged like any enrollment, so a server already following this database picks them up.
        tx.batch_execute(
            "WITH n AS (SELECT COUNT(*) AS c FROM faces), p AS (UPDATE gallery_position SET seq = seq + (SELECT c FROM n) RETURNING seq)
             INSERT INTO gallery_log (seq, face_key)
             SELECT (SELECT seq FROM p) - (SELECT c FROM n) + ROW_NUMBER() OVER (ORDER BY face_key), face_key FROM faces",
        )
        .await
        .map_err(pg)?;
        let st = tx
            .prepare(
                "INSERT INTO idempotency (client_id, key, request_hash, subject_id, face_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .await
            .map_err(pg)?;
        for (client, key, hash, subject, face, created) in &idempotency {
            summary.idempotency_keys += tx.execute(&st, &[client, key, hash, subject, face, created]).await.map_err(pg)?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(summary)
    })
}
