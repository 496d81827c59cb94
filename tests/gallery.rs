//! The compact gallery (int8 scan + exact rescoring) on real SFace embeddings of LFW View 1
//! DevTest: every probe's top 5 is the exact scan's top 5, faces and similarities alike, so
//! recall@1 against the exact scan is 100 %.
mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::*;
use facematch::gallery::{dot, Exact, FaceRef, Gallery};

#[test]
fn quantized_search_returns_the_exact_top_five_on_lfw() {
    let Some(eval) = shared_eval() else { return };
    let pairs = facematch::eval::pairs::load(&eval.join("lfw-view1/pairsDevTest.txt"), None).unwrap().pairs;
    let paths: Vec<PathBuf> = pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect::<BTreeSet<_>>().into_iter().collect();
    let engine = shared_engine("yunet-sface");
    let embeddings: Vec<Vec<f32>> =
        facematch::eval::embed_images(engine, &paths, &|_| {}).into_iter().filter_map(|r| r.embedding).collect();
    assert!(embeddings.len() > 900, "{} of {} photos embedded", embeddings.len(), paths.len());
    // Enrolled: every other photo; probes: all photos (half of them enrolled, half new).
    let g = Gallery::new(engine.pack().manifest.embedder.dim);
    let enrolled: Vec<usize> = (0..embeddings.len()).step_by(2).collect();
    for &i in &enrolled {
        assert!(g.insert(i as i64, &embeddings[i]));
    }
    let mut lookup = |keys: &[i64]| -> Result<Vec<Exact>, ()> {
        Ok(keys
            .iter()
            .map(|&k| Exact {
                key: k,
                face: FaceRef { face_id: k.to_string(), subject_id: k.to_string() },
                embedding: embeddings[k as usize].clone(),
            })
            .collect())
    };
    let mut top1 = 0;
    for q in &embeddings {
        let hits = g.search(q, 5, &mut lookup).unwrap();
        let mut exact: Vec<(f32, usize)> = enrolled.iter().map(|&i| (dot(q, &embeddings[i]), i)).collect();
        exact.sort_by(|a, b| b.0.total_cmp(&a.0));
        let want: Vec<(String, f32)> = exact[..5].iter().map(|(s, i)| (i.to_string(), *s)).collect();
        let got: Vec<(String, f32)> = hits.iter().map(|h| (h.face.face_id.clone(), h.similarity)).collect();
        assert_eq!(got, want);
        top1 += usize::from(got[0].0 == want[0].0);
    }
    eprintln!(
        "recall@1 against the exact scan: {top1}/{} probes over a gallery of {} LFW faces ({} bytes per face in the matrix)",
        embeddings.len(),
        g.len(),
        g.bytes_per_face()
    );
}
