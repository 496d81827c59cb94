//! The in-memory gallery kept equal to the database's faces. With one server (SQLite) its own
//! writes are all there is; with several servers on one database (PostgreSQL) each loads a
//! consistent snapshot with its log position, then reads the ordered gallery log from there every
//! `--gallery-sync-ms`: a face enrolled or deleted on any server is searchable (or gone) on every
//! other within that interval plus one query, and a server that was down catches up when it starts.
//! Search results never include a face the database no longer has, even before the log is read:
//! candidates are rescored from the database's rows.
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::gallery::Gallery;
use crate::store::{Store, StoreResult};

/// Log entries applied per read (a server catching up reads in batches of this many).
const BATCH: i64 = 10_000;

/// Loads every face of `model` into the gallery and, when the store is shared, starts following it.
pub fn load_and_follow(store: &Arc<dyn Store>, gallery: &Arc<Gallery>, model: &str, every: Duration) -> StoreResult<()> {
    let Some(feed) = store.gallery_feed() else {
        return store.faces(model, &mut |f| {
            gallery.insert(f.key, &f.embedding);
        });
    };
    let position = feed.gallery_snapshot(model, &mut |f| {
        gallery.insert(f.key, &f.embedding);
    })?;
    let (store, weak, model) = (store.clone(), Arc::downgrade(gallery), model.to_string());
    std::thread::Builder::new()
        .name("facematch-gallery-sync".into())
        .spawn(move || follow(store, weak, model, position, every))
        .map_err(|e| crate::store::StoreError::Db(format!("cannot start the gallery follower: {e}")))?;
    Ok(())
}

/// Applies the log from `position` on, until the gallery is dropped (the server stopped).
fn follow(store: Arc<dyn Store>, gallery: Weak<Gallery>, model: String, mut position: i64, every: Duration) {
    let mut failing = false;
    loop {
        std::thread::sleep(every);
        loop {
            let Some(gallery) = gallery.upgrade() else { return };
            let Some(feed) = store.gallery_feed() else { return };
            match feed.gallery_changes(&model, position, BATCH) {
                Ok(changes) => {
                    if failing {
                        tracing::info!("gallery log readable again; catching up");
                        failing = false;
                    }
                    let full = changes.len() as i64 == BATCH;
                    for c in changes {
                        match c.face {
                            Some(f) => gallery.insert(c.key, &f.embedding),
                            None => gallery.remove(&[c.key]) > 0,
                        };
                        position = c.seq;
                    }
                    metrics::gauge!("facematch_gallery_log_position").set(position as f64);
                    if !full {
                        break;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot read the gallery log; 1:N search may miss changes from other servers until it can");
                        failing = true;
                    }
                    break;
                }
            }
        }
    }
}
