//! The inference core. ONNX Runtime sessions need `&mut self` to run, so each worker thread owns one
//! detector and one embedder session; requests reach the workers through one bounded queue. Callers
//! either wait for a queue slot (CLI, batch tools) or get [`Error::Busy`] at once (HTTP), never an
//! unbounded backlog. Decoding runs on the workers too: it is CPU-heavy and must not block an async
//! runtime.
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{bounded, Sender, TrySendError};
use image::RgbImage;
use serde::Serialize;

use crate::align::align;
use crate::backend::{Backend, LibraryPaths, Runtimes};
use crate::decode::{decode, DecodeLimits};
use crate::defaults;
use crate::detect::{Detector, Face};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::manifest::Pack;
use crate::modelfile;
use crate::score;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub models_dir: PathBuf,
    /// Explicit ONNX Runtime library; else next to the executable, else in `models_dir`.
    pub ort_lib: Option<PathBuf>,
    /// Explicit OpenVINO C library; else next to the executable, else in `models_dir`.
    pub openvino_lib: Option<PathBuf>,
    /// Every model on this backend; `None` keeps each model's manifest backend.
    pub backend: Option<Backend>,
    /// Pack name or manifest path.
    pub pack: String,
    /// Inference worker threads, each with its own sessions.
    pub workers: usize,
    /// Threads inside one inference, per session.
    pub intra_threads: usize,
    /// Requests waiting for a worker before callers are told the engine is busy.
    pub queue_depth: usize,
    pub limits: DecodeLimits,
    /// Test-time augmentation; `None` keeps the pack's own.
    pub tta: Option<crate::manifest::Tta>,
}

impl EngineConfig {
    pub fn new(models_dir: PathBuf, pack: impl Into<String>) -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let workers = cores.clamp(1, 2);
        EngineConfig {
            models_dir,
            ort_lib: None,
            openvino_lib: None,
            backend: None,
            pack: pack.into(),
            workers,
            intra_threads: (cores / workers).max(1),
            queue_depth: 64,
            limits: DecodeLimits::default(),
            tta: None,
        }
    }

    fn libraries(&self) -> LibraryPaths {
        LibraryPaths { models_dir: self.models_dir.clone(), ort_lib: self.ort_lib.clone(), openvino_lib: self.openvino_lib.clone() }
    }

    /// The pack as this configuration runs it (its TTA and each model's backend settled) and the
    /// runtimes it needs, loaded.
    pub fn load_pack(&self) -> Result<(Pack, Runtimes)> {
        let mut pack = Pack::resolve(&self.pack, &self.models_dir)?;
        pack.manifest = pack.manifest.running(self.tta);
        let m = &mut pack.manifest;
        let runtimes = Runtimes::for_models(&self.libraries(), self.backend, &mut [&mut m.detector.backend, &mut m.embedder.backend])?;
        Ok((pack, runtimes))
    }
}

/// The face chosen for a comparison: the largest confident face, or the fallback detection.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ChosenFace {
    #[serde(flatten)]
    pub face: Face,
    /// True when no face reached the detector's threshold and this is the best detection above the
    /// fallback floor (a profile or degraded face: treat its match with care).
    pub low_confidence: bool,
}

/// Milliseconds spent in each stage for one image.
#[derive(Debug, Clone, Copy, Default, Serialize, utoipa::ToSchema)]
pub struct StageTimings {
    pub decode_ms: f64,
    pub detect_ms: f64,
    pub align_ms: f64,
    pub embed_ms: f64,
}

/// Everything the engine learned from one image.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub width: u32,
    pub height: u32,
    /// Faces at or above the detector threshold, largest first.
    pub faces: Vec<Face>,
    pub chosen: Option<ChosenFace>,
    /// Unit-length embedding of the chosen face (when asked for). Never serialized with the analysis,
    /// so it cannot end up in a log line by accident.
    #[serde(skip)]
    pub embedding: Option<Vec<f32>>,
    /// The aligned face crop the embedding was made from (when embedded). In memory only.
    #[serde(skip)]
    pub aligned: Option<RgbImage>,
    /// For the largest other faces (at most [`defaults::SAME_PERSON_CHECKS`], at [`Depth::Likeness`]): the
    /// index in `faces` and the cosine similarity of that face to the chosen one. A document's ghost
    /// portrait is the holder again; it is not another person however large it is printed.
    #[serde(skip)]
    pub likeness: Vec<(usize, f32)>,
    pub timings: StageTimings,
}

impl Analysis {
    pub fn face_count(&self) -> usize {
        self.faces.len()
    }

    /// Faces a person would count: the chosen face, plus each other confident face whose box
    /// (clipped to the photo) covers at least `share` of the chosen face's and that is not the same
    /// person (cosine to the chosen face at or above `same_person`, where it was measured). A
    /// document's ghost portrait or a head cut off at the border is not "another person in the
    /// photo"; a second person of comparable size is. 0 when there is no face at all.
    pub fn prominent_faces(&self, share: f32, same_person: Option<f32>) -> usize {
        let Some(chosen) = self.chosen else { return 0 };
        let area = |f: &Face| f.clipped_area(self.width, self.height);
        let floor = share * area(&chosen.face);
        let is_holder = |i: usize| same_person.is_some_and(|t| self.likeness.iter().any(|&(j, cos)| j == i && cos >= t));
        1 + self.faces.iter().enumerate().filter(|&(i, f)| *f != chosen.face && area(f) >= floor && !is_holder(i)).count()
    }
}

/// Two analyses and, when both hold a face, their cosine similarity.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub a: Analysis,
    pub b: Analysis,
    pub similarity: Option<f32>,
}

type Reply = Box<dyn FnOnce(Result<Analysis>) + Send>;

/// How far an analysis goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Faces only.
    Faces,
    /// And the chosen face's embedding.
    Embedding,
    /// And the likeness of the largest other faces to the chosen one ([`Analysis::likeness`]):
    /// what prominent-face counting needs (a document's ghost portrait is the same person). Up to
    /// [`defaults::SAME_PERSON_CHECKS`] more embeddings, so only where faces are counted.
    Likeness,
}

struct Job {
    bytes: Vec<u8>,
    depth: Depth,
    /// A health probe: run both models on a synthetic input instead of analysing `bytes`.
    probe: bool,
    reply: Reply,
    /// Set when nobody waits for the answer any more (the client hung up): skipped unrun.
    cancelled: Option<Arc<AtomicBool>>,
    /// Not started by then: skipped unrun and answered [`Error::Busy`] (a late answer helps nobody).
    deadline: Option<Instant>,
}

impl Job {
    fn new(bytes: Vec<u8>, depth: Depth, reply: Reply) -> Job {
        Job { bytes, depth, probe: false, reply, cancelled: None, deadline: None }
    }

    /// Still worth running: wanted, and not past its deadline.
    fn wanted(&self) -> bool {
        !self.cancelled.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) && self.deadline.is_none_or(|d| Instant::now() <= d)
    }
}

/// Queued work that is dropped unrun once this is dropped (an HTTP handler holds it while it waits;
/// a client that hangs up drops the handler).
pub struct Ticket(Arc<AtomicBool>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

pub struct Engine {
    tx: Option<Sender<Job>>,
    /// Held while queueing without waiting, so a pair takes its two slots at once or none.
    admission: std::sync::Mutex<()>,
    workers: Vec<JoinHandle<()>>,
    pack: Pack,
    config: EngineConfig,
}

impl Engine {
    /// Loads the runtime and the pack, verifies every model file, starts the workers and warms each
    /// one up with a real inference. Returns only once the engine can serve.
    pub fn new(config: EngineConfig) -> Result<Engine> {
        let (pack, runtimes) = config.load_pack()?;
        let det_path = pack.detector_path();
        let emb_path = pack.embedder_path();
        let det_bytes = Arc::new(modelfile::verify(&det_path, &pack.manifest.detector.model)?);
        let emb_bytes = Arc::new(modelfile::verify(&emb_path, &pack.manifest.embedder.model)?);

        // At least two: a pair is admitted whole or not at all.
        let (tx, rx) = bounded::<Job>(config.queue_depth.max(2));
        let (ready_tx, ready_rx) = bounded::<Result<()>>(config.workers);
        let mut workers = Vec::new();
        for i in 0..config.workers.max(1) {
            let rx = rx.clone();
            let ready_tx = ready_tx.clone();
            let (runtimes, det_bytes, emb_bytes) = (runtimes.clone(), det_bytes.clone(), emb_bytes.clone());
            let (det_spec, emb_spec) = (pack.manifest.detector.clone(), pack.manifest.embedder.clone());
            let (intra, limits) = (config.intra_threads.max(1), config.limits);
            let (det_path, emb_path) = (det_path.clone(), emb_path.clone());
            let handle = std::thread::Builder::new()
                .name(format!("facematch-infer-{i}"))
                .spawn(move || {
                    let setup = (|| {
                        let det = runtimes.session(det_spec.backend, &det_bytes, intra, &det_path)?;
                        let emb = runtimes.session(emb_spec.backend, &emb_bytes, intra, &emb_path)?;
                        let mut worker =
                            Worker { detector: Detector::new(det, det_spec)?, embedder: Embedder::new(emb, emb_spec)?, limits };
                        worker.warm_up()?;
                        Ok::<_, Error>(worker)
                    })();
                    drop((det_bytes, emb_bytes));
                    let mut worker = match setup {
                        Ok(w) => {
                            let _ = ready_tx.send(Ok(()));
                            w
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    drop(ready_tx);
                    for job in rx.iter() {
                        if !job.wanted() {
                            (job.reply)(Err(Error::Busy));
                            continue;
                        }
                        let Job { bytes, depth, probe, reply, .. } = job;
                        let run = || if probe { worker.probe() } else { worker.analyse(&bytes, depth) };
                        let result = std::panic::catch_unwind(AssertUnwindSafe(run))
                            .unwrap_or_else(|_| Err(Error::Internal("inference worker panicked".into())));
                        reply(result);
                    }
                })
                .map_err(|e| Error::Internal(format!("could not start an inference thread: {e}")))?;
            workers.push(handle);
        }
        drop(ready_tx);
        let mut engine = Engine { tx: Some(tx), admission: std::sync::Mutex::new(()), workers, pack, config };
        for _ in 0..engine.workers.len() {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    engine.shutdown();
                    return Err(e);
                }
                Err(_) => {
                    engine.shutdown();
                    return Err(Error::Internal("an inference thread exited during start-up".into()));
                }
            }
        }
        Ok(engine)
    }

    pub fn pack(&self) -> &Pack {
        &self.pack
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// [`Analysis::prominent_faces`] with this pack's same-person cosine (none when uncalibrated).
    pub fn prominent_faces(&self, a: &Analysis, share: f32) -> usize {
        let same_person = self.pack.manifest.calibration.as_ref().map(|c| c.cosine_for_score(defaults::SAME_PERSON_SCORE));
        a.prominent_faces(share, same_person)
    }

    /// True when the queue has `n` free slots right now (a hint: admission decides).
    pub fn has_room(&self, n: usize) -> bool {
        self.tx.as_ref().is_some_and(|t| t.capacity().unwrap_or(usize::MAX).saturating_sub(t.len()) >= n)
    }

    /// Requests waiting for a worker right now.
    pub fn queue_len(&self) -> usize {
        self.tx.as_ref().map_or(0, |t| t.len())
    }

    /// Queues an analysis without waiting: [`Error::Busy`] when the queue is full. `reply` runs on an
    /// inference thread: it should only hand the result over (e.g. a oneshot channel).
    pub fn try_analyse(&self, bytes: Vec<u8>, depth: Depth, reply: impl FnOnce(Result<Analysis>) + Send + 'static) -> Result<()> {
        self.try_queue(vec![Job::new(bytes, depth, Box::new(reply))]).map(drop)
    }

    /// Queues analyses without waiting, all or none: [`Error::Busy`] at once unless the queue has a
    /// slot for each. Each is dropped unrun if it has not started within `wait` or once the returned
    /// [`Ticket`] is dropped. `reply` runs on an inference thread with the job's index.
    pub fn try_analyse_all(
        &self,
        images: Vec<Vec<u8>>,
        depth: Depth,
        wait: std::time::Duration,
        reply: impl Fn(usize, Result<Analysis>) + Send + Sync + 'static,
    ) -> Result<Ticket> {
        let (flag, reply, deadline) = (Arc::new(AtomicBool::new(false)), Arc::new(reply), Instant::now() + wait);
        let jobs = images
            .into_iter()
            .enumerate()
            .map(|(i, bytes)| {
                let reply = reply.clone();
                let mut job = Job::new(bytes, depth, Box::new(move |r| reply(i, r)));
                (job.cancelled, job.deadline) = (Some(flag.clone()), Some(deadline));
                job
            })
            .collect();
        self.try_queue(jobs).map(|()| Ticket(flag))
    }

    /// Sends every job or none (under the admission lock; the workers only ever free slots).
    fn try_queue(&self, jobs: Vec<Job>) -> Result<()> {
        let tx = self.tx.as_ref().ok_or(Error::Shutdown)?;
        let _admit = self.admission.lock().map_err(|_| Error::Internal("admission lock poisoned".into()))?;
        let free = tx.capacity().unwrap_or(usize::MAX).saturating_sub(tx.len());
        if free < jobs.len() {
            return Err(Error::Busy);
        }
        let mut sent: Vec<Arc<AtomicBool>> = Vec::new();
        for job in jobs {
            let cancel = job.cancelled.clone();
            if let Err(e) = tx.try_send(job) {
                // Only a blocking sender (CLI tools) can take a slot meanwhile: what went is dropped.
                sent.iter().for_each(|c| c.store(true, Ordering::Relaxed));
                return Err(match e {
                    TrySendError::Full(_) => Error::Busy,
                    TrySendError::Disconnected(_) => Error::Shutdown,
                });
            }
            sent.extend(cancel);
        }
        Ok(())
    }

    /// Queues a health probe (one real inference of each model on a synthetic input) without
    /// waiting; [`Error::Busy`] when the queue is full.
    pub fn try_probe(&self, reply: impl FnOnce(Result<Analysis>) + Send + 'static) -> Result<()> {
        let mut job = Job::new(Vec::new(), Depth::Faces, Box::new(reply));
        job.probe = true;
        self.try_queue(vec![job])
    }

    /// Analyses one image, waiting for a queue slot if needed.
    pub fn analyse(&self, bytes: Vec<u8>, depth: Depth) -> Result<Analysis> {
        let (tx, rx) = bounded(1);
        self.send_blocking(bytes, depth, tx)?;
        rx.recv().map_err(|_| Error::Shutdown)?
    }

    /// Queues an analysis, waiting for a queue slot; `reply` runs on an inference thread.
    pub fn submit_blocking(&self, bytes: Vec<u8>, depth: Depth, reply: impl FnOnce(Result<Analysis>) + Send + 'static) -> Result<()> {
        let job = Job::new(bytes, depth, Box::new(reply));
        self.tx.as_ref().ok_or(Error::Shutdown)?.send(job).map_err(|_| Error::Shutdown)
    }

    fn send_blocking(&self, bytes: Vec<u8>, depth: Depth, tx: Sender<Result<Analysis>>) -> Result<()> {
        self.submit_blocking(bytes, depth, move |r| drop(tx.send(r)))
    }

    /// Analyses both images (in parallel when there are two workers) and compares their faces.
    pub fn compare(&self, a: Vec<u8>, b: Vec<u8>) -> Result<Comparison> {
        let (ta, ra) = bounded(1);
        let (tb, rb) = bounded(1);
        self.send_blocking(a, Depth::Likeness, ta)?;
        self.send_blocking(b, Depth::Likeness, tb)?;
        let a = ra.recv().map_err(|_| Error::Shutdown)??;
        let b = rb.recv().map_err(|_| Error::Shutdown)??;
        Ok(Comparison::of(a, b))
    }

    fn shutdown(&mut self) {
        self.tx.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Comparison {
    pub fn of(a: Analysis, b: Analysis) -> Comparison {
        let similarity = match (&a.embedding, &b.embedding) {
            (Some(x), Some(y)) => Some(score::cosine(x, y)),
            _ => None,
        };
        Comparison { a, b, similarity }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Worker {
    detector: Detector,
    embedder: Embedder,
    limits: DecodeLimits,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

impl Worker {
    /// One real pass through both models: proves the files load and produce outputs of the shapes
    /// the pack declares, and pays ONNX Runtime's first-run costs before any request does.
    fn warm_up(&mut self) -> Result<()> {
        let img = RgbImage::from_pixel(self.detector.spec().input_size, self.detector.spec().input_size, image::Rgb([128, 128, 128]));
        self.detector.detect(&img)?;
        let size = self.embedder.spec().input_size;
        self.embedder.embed(&RgbImage::from_pixel(size, size, image::Rgb([128, 128, 128])))?;
        Ok(())
    }

    fn probe(&mut self) -> Result<Analysis> {
        let t = Instant::now();
        self.warm_up()?;
        let timings = StageTimings { detect_ms: ms(t), ..StageTimings::default() };
        Ok(Analysis { width: 0, height: 0, faces: Vec::new(), chosen: None, embedding: None, aligned: None, likeness: Vec::new(), timings })
    }

    fn analyse(&mut self, bytes: &[u8], depth: Depth) -> Result<Analysis> {
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let img = decode(bytes, &self.limits)?;
        timings.decode_ms = ms(t);
        let t = Instant::now();
        let detections = self.detector.detect(&img)?;
        timings.detect_ms = ms(t);
        let chosen = match detections.faces.first() {
            Some(&face) => Some(ChosenFace { face, low_confidence: false }),
            None => detections.fallback.map(|face| ChosenFace { face, low_confidence: true }),
        };
        let mut embedding = None;
        let mut aligned = None;
        let mut likeness = Vec::new();
        if let (Depth::Embedding | Depth::Likeness, Some(c)) = (depth, chosen) {
            let spec = self.embedder.spec();
            let t = Instant::now();
            let crop = align(&img, &c.face.landmarks, &spec.template, spec.input_size)?;
            timings.align_ms = ms(t);
            let t = Instant::now();
            let e = self.embedder.embed(&crop)?;
            if depth == Depth::Likeness {
                likeness = self.likeness(&img, &detections.faces, &c.face, &e)?;
            }
            timings.embed_ms = ms(t);
            embedding = Some(e);
            aligned = Some(crop);
        }
        Ok(Analysis { width: img.width(), height: img.height(), faces: detections.faces, chosen, embedding, aligned, likeness, timings })
    }

    /// Cosine of the largest other faces to the chosen one ([`Analysis::likeness`]).
    fn likeness(&mut self, img: &RgbImage, faces: &[Face], chosen: &Face, chosen_embedding: &[f32]) -> Result<Vec<(usize, f32)>> {
        let (template, size) = (self.embedder.spec().template, self.embedder.spec().input_size);
        let mut out = Vec::new();
        for (i, f) in likeness_checked(faces, chosen) {
            let crop = align(img, &f.landmarks, &template, size)?;
            out.push((i, score::cosine(&self.embedder.embed(&crop)?, chosen_embedding)));
        }
        Ok(out)
    }
}

/// The other faces a comparison embeds to tell a second person from the same person's picture
/// (at most [`defaults::SAME_PERSON_CHECKS`], largest first), with their indices.
pub fn likeness_checked<'a>(faces: &'a [Face], chosen: &'a Face) -> impl Iterator<Item = (usize, &'a Face)> + 'a {
    faces.iter().enumerate().filter(move |(_, f)| *f != chosen).take(defaults::SAME_PERSON_CHECKS)
}
