-- facematch state on PostgreSQL: the SQLite schema (src/store/sqlite.rs) plus integer face keys and
-- the gallery's change log. Applied once, in order, under an advisory lock (see postgres.rs).
CREATE TABLE clients (
    scheme TEXT NOT NULL,
    client_id TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    signing_secret TEXT,
    created_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (scheme, client_id)
);
CREATE INDEX clients_secret ON clients (scheme, secret_hash);
CREATE TABLE cashfree_verifications (
    ref_id BIGSERIAL PRIMARY KEY,
    verification_id TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    status TEXT,
    result TEXT,
    score DOUBLE PRECISION,
    created_at BIGINT NOT NULL
);
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    scheme TEXT NOT NULL,
    client_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE valify_bundles (
    bundle_key TEXT PRIMARY KEY,
    quota BIGINT,
    used BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE valify_transactions (
    transaction_id TEXT PRIMARY KEY,
    bundle_key TEXT NOT NULL,
    client_id TEXT NOT NULL,
    is_similar BOOLEAN,
    confidence DOUBLE PRECISION,
    error_code BIGINT,
    created_at BIGINT NOT NULL
);
CREATE TABLE subjects (
    subject_id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    full_name TEXT,
    document_id TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX subjects_document ON subjects (document_id);
CREATE INDEX subjects_created ON subjects (created_at, subject_id);
CREATE TABLE faces (
    face_key BIGSERIAL PRIMARY KEY,
    face_id TEXT NOT NULL UNIQUE,
    subject_id TEXT NOT NULL REFERENCES subjects (subject_id) ON DELETE CASCADE,
    image_id TEXT NOT NULL,
    model TEXT NOT NULL,
    embedding BYTEA NOT NULL,
    created_at TEXT NOT NULL,
    photo BYTEA
);
CREATE INDEX faces_subject ON faces (subject_id);
CREATE INDEX faces_model ON faces (model);
CREATE TABLE idempotency (
    client_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    face_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (client_id, key)
);
-- The gallery's change log: every enrolled or removed face, in commit order. Writers take the next
-- numbers from the one row of gallery_position, whose row lock they hold until they commit, so a
-- reader that has seen position N has seen every change numbered below N.
CREATE TABLE gallery_position (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    seq BIGINT NOT NULL
);
INSERT INTO gallery_position (seq) VALUES (0);
CREATE TABLE gallery_log (
    seq BIGINT PRIMARY KEY,
    face_key BIGINT NOT NULL
);
