use std::process::ExitCode;
use std::time::Instant;

use facematch::cli::{Cli, Command};
use facematch::engine::{Analysis, Engine};
use facematch::error::{Error, ErrorKind};
use serde_json::json;

/// Exit codes: 0 success, 2 usage (clap), 3 unusable image, 4 no face, 1 anything else.
fn exit_code(e: &Error) -> ExitCode {
    match e.kind() {
        ErrorKind::InvalidImage => ExitCode::from(3),
        ErrorKind::NoFace => ExitCode::from(4),
        _ => ExitCode::from(1),
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = match facematch::cli::parse() {
        Ok(facematch::cli::Parsed::Run(c)) => c,
        Ok(facematch::cli::Parsed::Version(engine)) => {
            return match facematch::cmd::bundle::version(&engine) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("facematch: error: {e}");
                    exit_code(&e)
                }
            };
        }
        Err(e) => {
            eprintln!("facematch: error: configuration file: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,ort=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli.as_ref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err((e, context)) => {
            let context = context.map(|c| format!("{c}: ")).unwrap_or_default();
            eprintln!("facematch: error: {context}{e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            exit_code(&e)
        }
    }
}

/// glibc gives each thread that allocates its own malloc arena; with the async runtime's threads and
/// the inference workers all handling multi-megabyte images, freed memory stays spread over many
/// arenas. Two arenas cut the server's peak RSS under 16 concurrent large-photo requests from about
/// 430 MB to 400 MB at no measurable cost. An explicit `MALLOC_ARENA_MAX` is left to glibc.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first thing in main, before any other thread exists; mallopt only sets a
        // tuning parameter of the allocator.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

type CliError = (Error, Option<String>);
type CliResult = Result<(), CliError>;

fn read(path: &std::path::Path) -> Result<Vec<u8>, (Error, Option<String>)> {
    std::fs::read(path).map_err(|e| (Error::Internal(format!("cannot read the file: {e}")), Some(path.display().to_string())))
}

fn in_ctx(path: &std::path::Path) -> impl Fn(Error) -> (Error, Option<String>) + '_ {
    move |e| (e, Some(path.display().to_string()))
}

fn face_json(a: &Analysis) -> serde_json::Value {
    json!(a.chosen)
}

fn open_store(args: &facematch::cli::StoreArgs) -> Result<std::sync::Arc<dyn facematch::store::Store>, CliError> {
    let location = args.location().map_err(|e| (Error::Command(e), None))?;
    location.open().map_err(|e| (Error::Command(e.to_string()), Some(location.describe())))
}

/// `migrate --from sqlite:PATH --to postgres://…`, which needs no models.
fn migrate(cli: &Cli) -> Option<CliResult> {
    use facematch::store::Location;
    let Command::Migrate { from, to, json } = &cli.command else { return None };
    Some((|| {
        let usage = |e: String| (Error::Command(e), None);
        let dir = facematch::cli::default_state_dir();
        let Location::Sqlite(source) = Location::parse(Some(from), &dir).map_err(usage)? else {
            return Err(usage("--from: expected sqlite:PATH".into()));
        };
        let target = Location::parse(Some(to), &dir).map_err(usage)?;
        let Location::Postgres(url) = &target else { return Err(usage("--to: expected postgres://…".into())) };
        let pg = facematch::store::PostgresStore::connect(url).map_err(|e| (Error::Command(e.to_string()), Some(target.describe())))?;
        let summary = pg.import_sqlite(&source).map_err(|e| (Error::Command(e.to_string()), Some(source.display().to_string())))?;
        if *json {
            println!("{}", json!(summary));
        } else {
            println!(
                "migrated into {}: {} clients, {} tokens, {} Valify bundle keys, {} Valify transactions, {} Cashfree verifications, {} subjects, {} faces, {} idempotency keys",
                target.describe(),
                summary.clients,
                summary.tokens,
                summary.valify_bundles,
                summary.valify_transactions,
                summary.cashfree_verifications,
                summary.subjects,
                summary.faces,
                summary.idempotency_keys
            );
        }
        Ok(())
    })())
}

fn clients(cli: &Cli) -> Option<CliResult> {
    let Command::Clients { store, action } = &cli.command else { return None };
    Some((|| {
        let store = open_store(store)?;
        let fail = |e: facematch::store::StoreError| (Error::Internal(e.to_string()), None);
        match action {
            facematch::cli::ClientsAction::Add { scheme, client_id } => {
                if !facematch::store::SCHEMES.contains(&scheme.as_str()) {
                    return Err((Error::Internal(format!("unknown scheme `{scheme}` ({})", facematch::store::SCHEMES.join(", "))), None));
                }
                let c = store.add_client(scheme, client_id.as_deref()).map_err(fail)?;
                println!(
                    "scheme {}\nclient_id {}\nsecret {}\n(the secret is shown once and stored hashed)",
                    c.scheme, c.client_id, c.secret
                );
            }
            facematch::cli::ClientsAction::Init => first_start_credentials(store.as_ref())?,
            facematch::cli::ClientsAction::List => {
                for c in store.list_clients().map_err(fail)? {
                    println!("{}\t{}\t{}", c.scheme, c.client_id, if c.revoked { "revoked" } else { "active" });
                }
            }
            facematch::cli::ClientsAction::Revoke { scheme, client_id } => {
                if !store.revoke_client(scheme, client_id).map_err(fail)? {
                    return Err((Error::Internal(format!("no client {client_id} in scheme {scheme}")), None));
                }
                println!("revoked {scheme} {client_id}");
            }
        }
        Ok(())
    })())
}

/// Credentials given by the operator (`--client SCHEME:ID:SECRET`), stored hashed.
fn provision_clients(store: &dyn facematch::store::Store, specs: &[String]) -> Result<(), CliError> {
    for spec in specs.iter().filter(|s| !s.trim().is_empty()) {
        let (scheme, id, secret) = facematch::cli::parse_client_spec(spec).map_err(|e| (Error::Internal(e), None))?;
        if store.provision_client(&scheme, &id, &secret).map_err(|e| (Error::Internal(e.to_string()), None))? {
            eprintln!("facematch: provisioned {scheme} client {id}");
        }
    }
    Ok(())
}

/// On a first start every vendor scheme gets a client (and Didit v3 an API key, Valify a bundle
/// key); secrets are printed this once and stored hashed.
fn first_start_credentials(store: &dyn facematch::store::Store) -> Result<(), CliError> {
    let mut outcome = Ok(());
    store
        .exclusively(&mut || {
            outcome = issue_missing_credentials(store);
            Ok(())
        })
        .map_err(|e| (Error::Internal(e.to_string()), None))?;
    outcome
}

fn issue_missing_credentials(store: &dyn facematch::store::Store) -> Result<(), CliError> {
    let fail = |e: facematch::store::StoreError| (Error::Internal(e.to_string()), None);
    let existing = store.list_clients().map_err(fail)?;
    for scheme in facematch::store::SCHEMES {
        if existing.iter().any(|c| c.scheme == scheme) {
            continue;
        }
        let c = store.add_client(scheme, None).map_err(fail)?;
        if scheme == "native" {
            eprintln!("facematch: new native API key (shown once, stored hashed; Authorization: Bearer <key>): {}", c.secret);
            continue;
        }
        eprintln!("facematch: new {scheme} credentials (shown once, stored hashed): client_id={} secret={}", c.client_id, c.secret);
        if scheme == "didit" {
            let key = store.issue_token("didit", &c.client_id, "api_key", facematch::server::didit::API_KEY_TTL_SECS).map_err(fail)?;
            eprintln!("facematch: new Didit v3 x-api-key (shown once, stored hashed): {key}");
        }
    }
    if store.bundle_keys().map_err(fail)?.is_empty() {
        let key = store.add_bundle_key(None).map_err(fail)?;
        eprintln!("facematch: new Valify bundle key (unlimited trials): {key}");
    }
    Ok(())
}

/// `subjects list` and `subjects status`, which need the store but no models.
fn subjects_offline(cli: &Cli) -> Option<CliResult> {
    use facematch::cli::SubjectsAction;
    let Command::Subjects { store, action } = &cli.command else { return None };
    if matches!(action, SubjectsAction::Import { .. }) {
        return None;
    }
    Some((|| {
        let store = open_store(store)?;
        let fail = |e: facematch::store::StoreError| (Error::Internal(e.to_string()), None);
        match action {
            SubjectsAction::List { limit } => {
                println!("{} enrolled", store.count_subjects(None).map_err(fail)?);
                for s in store.list_subjects(0, (*limit).max(1), None).map_err(fail)? {
                    println!(
                        "{}\t{}\t{}\t{}\t{} face(s)",
                        s.subject_id,
                        s.full_name.as_deref().unwrap_or("-"),
                        s.document_id.as_deref().unwrap_or("-"),
                        s.status,
                        s.faces.len()
                    );
                }
            }
            SubjectsAction::Status => {
                let current = facematch::manifest::Pack::resolve(&cli.engine.pack, &cli.engine.models_dir())
                    .map(|p| p.manifest.embedding_model_id())
                    .ok();
                for (model, n) in store.face_models().map_err(fail)? {
                    let note = match &current {
                        Some(c) if *c == model => "searched by the current pack",
                        Some(_) => "NOT searched: another embedding model; enroll these people again",
                        None => "",
                    };
                    println!("{model}\t{n} face(s)\t{note}");
                }
            }
            SubjectsAction::Import { .. } => {}
        }
        Ok(())
    })())
}

/// `bench load` needs no models in this process.
fn bench(cli: &Cli) -> Option<CliResult> {
    use facematch::cli::BenchAction;
    let Command::Bench { action } = &cli.command else { return None };
    let inputs = match action {
        BenchAction::Load { inputs, .. } | BenchAction::ModelOnly { inputs } => inputs,
    };
    let samples = cli.engine.models_dir().parent().map(|p| p.join("samples")).unwrap_or_default();
    let pairs = match facematch::bench::inputs(&inputs.inputs, &inputs.pairs_file, &samples, inputs.pair_count) {
        Ok(p) => p,
        Err(e) => return Some(Err((Error::Internal(e), None))),
    };
    let duration = std::time::Duration::from_secs_f64(inputs.seconds.max(0.1));
    Some(match action {
        BenchAction::Load { url, route, concurrency, max_requests, key, cashfree, server_pid, inputs } => {
            let route = match route.as_str() {
                "native" => facematch::bench::Route::Native,
                "cashfree" => facematch::bench::Route::Cashfree,
                other => return Some(Err((Error::Internal(format!("unknown route `{other}` (native, cashfree)")), None))),
            };
            let cfg = facematch::bench::LoadConfig {
                url: url.trim_end_matches('/').to_string(),
                route,
                concurrency: *concurrency,
                duration,
                max_requests: *max_requests,
                key: key.clone(),
                cashfree: cashfree.as_deref().and_then(|c| c.split_once(':')).map(|(a, b)| (a.to_string(), b.to_string())),
                server_pid: *server_pid,
            };
            let r = facematch::bench::run_load(&cfg, &pairs);
            if inputs.json {
                println!("{}", json!(r));
            } else {
                println!(
                    "{:?} x{}: {} requests in {:.1} s, {:.2} pairs/s, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, {} errors{}{}{}",
                    r.route,
                    r.concurrency,
                    r.requests,
                    r.seconds,
                    r.throughput,
                    r.p50_ms,
                    r.p95_ms,
                    r.p99_ms,
                    r.errors,
                    r.peak_rss_mb.map(|m| format!(", server peak RSS {m:.0} MB")).unwrap_or_default(),
                    if r.busy > 0 {
                        format!(
                            ", {} busy answers (p50 {:.1} ms, p99 {:.1} ms, {:.1}% over 100 ms)",
                            r.busy,
                            r.busy_p50_ms,
                            r.busy_p99_ms,
                            r.busy_over_100ms * 100.0
                        )
                    } else {
                        String::new()
                    },
                    r.first_error.as_ref().map(|e| format!(" (first: {e})")).unwrap_or_default()
                );
            }
            Ok(())
        }
        BenchAction::ModelOnly { inputs } => match facematch::bench::model_only(&cli.engine.engine_config(), &pairs, duration) {
            Ok(r) => {
                if inputs.json {
                    println!("{}", json!(r));
                } else {
                    println!(
                        "model only, {} workers x {} intra threads: {} pairs in {:.1} s, {:.2} pairs/s, p50 {:.1} ms per pair",
                        r.workers, r.intra_threads, r.pairs, r.seconds, r.throughput, r.p50_ms_per_pair
                    );
                }
                Ok(())
            }
            Err(e) => Err((e, None)),
        },
    })
}

fn run(cli: &Cli) -> CliResult {
    if let Some(r) = clients(cli) {
        return r;
    }
    if let Some(r) = bench(cli) {
        return r;
    }
    if let Some(r) = subjects_offline(cli) {
        return r;
    }
    if let Some(r) = migrate(cli) {
        return r;
    }
    if let Command::VerifyBundle { dir } = &cli.command {
        return facematch::cmd::bundle::verify_bundle(&cli.engine, dir.as_deref()).map_err(|e| (e, None));
    }
    let start = Instant::now();
    let engine = Engine::new(cli.engine.engine_config()).map_err(|e| (e, None))?;
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    match &cli.command {
        Command::Detect { image, json } => {
            let a = engine.analyse(read(image)?, facematch::engine::Depth::Faces).map_err(in_ctx(image))?;
            if *json {
                println!(
                    "{}",
                    json!({"faces": a.faces, "chosen": a.chosen, "width": a.width, "height": a.height, "timings_ms": a.timings})
                );
            } else {
                println!("{}: {}x{}, {} face(s)", image.display(), a.width, a.height, a.faces.len());
                for (i, f) in a.faces.iter().enumerate() {
                    let b = f.bbox;
                    println!("  #{i}: box [{:.0}, {:.0}, {:.0}, {:.0}] score {:.3}", b[0], b[1], b[2], b[3], f.score);
                }
            }
        }
        Command::Embed { image, json } => {
            let a = engine.analyse(read(image)?, facematch::engine::Depth::Embedding).map_err(in_ctx(image))?;
            let emb = a.embedding.as_ref().ok_or((Error::NoFace, Some(image.display().to_string())))?;
            if *json {
                println!("{}", json!({"embedding": emb, "faces": a.face_count(), "face": face_json(&a)}));
            } else {
                println!("{}", emb.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>().join(" "));
            }
        }
        Command::Compare { a, b, json, threshold } => {
            let t = Instant::now();
            let c = engine.compare(read(a)?, read(b)?).map_err(|e| (e, None))?;
            let total_ms = t.elapsed().as_secs_f64() * 1e3;
            for (analysis, path) in [(&c.a, a), (&c.b, b)] {
                if analysis.chosen.is_none() {
                    return Err((Error::NoFace, Some(path.display().to_string())));
                }
            }
            let sim = c.similarity.ok_or((Error::NoFace, None))?;
            let manifest = &engine.pack().manifest;
            let cal = manifest.calibrated(sim);
            let thresholds: serde_json::Map<String, serde_json::Value> = manifest
                .calibration
                .iter()
                .flat_map(|c| c.points.iter().filter(|p| [1e-3, 1e-4, 1e-5].contains(&p.fmr)))
                .map(|p| (format!("{:.0e}", p.fmr), json!(p.cosine)))
                .collect();
            let is_match = cal.map(|c| c.score >= *threshold);
            if *json {
                println!(
                    "{}",
                    json!({
                        "similarity": sim,
                        "score": cal.map(|c| c.score),
                        "fmr": cal.map(|c| c.fmr),
                        "fmr_extrapolated": cal.map(|c| c.extrapolated),
                        "match": is_match,
                        "threshold": threshold,
                        "cosine_thresholds_at_fmr": thresholds,
                        // Faces a person would count (README, "Prominent faces"); every detection in detected_faces_*.
                        "faces_a": engine.prominent_faces(&c.a, facematch::defaults::PROMINENT_FACE_SHARE),
                        "faces_b": engine.prominent_faces(&c.b, facematch::defaults::PROMINENT_FACE_SHARE),
                        "detected_faces_a": c.a.face_count(),
                        "detected_faces_b": c.b.face_count(),
                        "face_a": face_json(&c.a),
                        "face_b": face_json(&c.b),
                        "pack": engine.pack().manifest.name,
                        "timings_ms": {"a": c.a.timings, "b": c.b.timings, "compare_total": total_ms, "engine_load": load_ms},
                    })
                );
            } else {
                match cal {
                    Some(k) => println!(
                        "{}: similarity {sim:.4}, score {:.3} (FMR {:.1e}{}), faces: {} in A, {} in B",
                        if k.score >= *threshold { "MATCH" } else { "NO MATCH" },
                        k.score,
                        k.fmr,
                        if k.extrapolated { ", extrapolated" } else { "" },
                        c.a.face_count(),
                        c.b.face_count()
                    ),
                    None => {
                        println!("similarity {sim:.4} (pack not calibrated), faces: {} in A, {} in B", c.a.face_count(), c.b.face_count())
                    }
                }
            }
        }
        Command::Clients { .. } | Command::Migrate { .. } | Command::VerifyBundle { .. } => {}
        Command::Subjects { store, action: facematch::cli::SubjectsAction::Import { source, faces_per_subject, json } } => {
            let store = open_store(store)?;
            let plan = facematch::subjects_cmd::plan(source, *faces_per_subject).map_err(|e| (Error::Internal(e), None))?;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("enrolling [{bar:40}] {pos}/{len} photos, {per_sec}, eta {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let summary = facematch::subjects_cmd::import(&engine, store.as_ref(), &plan, &|done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })
            .map_err(|e| (Error::Internal(e), None))?;
            bar.finish_and_clear();
            if *json {
                println!("{}", json!(summary));
            } else {
                println!(
                    "enrolled {} people ({} faces); {} photos without a face, {} unreadable; {} people not enrolled",
                    summary.subjects, summary.faces, summary.no_face, summary.failed, summary.skipped_subjects
                );
            }
        }
        Command::Subjects { .. } | Command::Bench { .. } => {}
        Command::Serve(args) => {
            if !(args.identify_fmr > 0.0 && args.identify_fmr < 1.0) {
                return Err((Error::Internal("--identify-fmr must lie strictly between 0 and 1".into()), None));
            }
            let mut config = args.server_config();
            if let Some(path) = &args.cashfree_signature_key {
                let pem = std::fs::read_to_string(path)
                    .map_err(|e| (Error::Internal(format!("cannot read the file: {e}")), Some(path.display().to_string())))?;
                let key = facematch::server::cashfree::SignatureKey::from_pem(&pem)
                    .map_err(|e| (Error::Internal(e), Some(path.display().to_string())))?;
                config.cashfree_signature_key = Some(std::sync::Arc::new(key));
            }
            if let Some(path) = &args.photo_key {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| (Error::Internal(format!("cannot read the file: {e}")), Some(path.display().to_string())))?;
                let key =
                    facematch::photos::PhotoKey::from_hex(&text).map_err(|e| (Error::Internal(e), Some(path.display().to_string())))?;
                config.photo_key = Some(std::sync::Arc::new(key));
            }
            let store = open_store(&args.store)?;
            provision_clients(store.as_ref(), &args.clients)?;
            first_start_credentials(store.as_ref())?;
            let state = facematch::server::AppState::try_new(std::sync::Arc::new(engine), store, config)
                .map_err(|e| (Error::Internal(e.to_string()), None))?;
            eprintln!("facematch: {} enrolled faces loaded for 1:N search", state.gallery.len());
            let rt = tokio::runtime::Runtime::new().map_err(|e| (Error::Internal(e.to_string()), None))?;
            let listen = &args.listen;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen.as_str())
                    .await
                    .map_err(|e| (Error::Internal(format!("cannot listen on {listen}: {e}")), None))?;
                let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| listen.clone());
                let m = &state.engine.pack().manifest;
                eprintln!(
                    "facematch: serving on http://{addr} (pack {}: detector on {}, embedder on {}; models loaded in {load_ms:.0} ms); console at http://{addr}/, API docs at http://{addr}/docs",
                    m.name, m.detector.backend, m.embedder.backend
                );
                facematch::server::serve(listener, state).await.map_err(|e| (Error::Internal(e.to_string()), None))
            })?;
        }
        Command::Calibrate(args) => {
            let cache_dir = facematch::cmd::eval::default_cache_dir(&cli.engine.models_dir());
            facematch::cmd::calibrate::run(&engine, args, &cache_dir).map_err(|e| (e, None))?;
        }
        Command::Eval(args) => {
            let cache_dir = facematch::cmd::eval::default_cache_dir(&cli.engine.models_dir());
            facematch::cmd::eval::run(&engine, args, &cache_dir).map_err(|e| (e, None))?;
        }
    }
    Ok(())
}
