//! The evaluation picture: ROC curve (TAR against FMR, log scale) and the genuine / impostor
//! cosine histograms, drawn with plotters into a buffer and written as PNG.
use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};

const FONT_PATHS: [&str; 3] =
    ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"];

/// plotters draws text with a registered TrueType font; without one the plot has no labels.
fn register_font() -> bool {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DONE.get_or_init(|| {
        let explicit = std::env::var("FACEMATCH_PLOT_FONT").ok();
        for p in explicit.iter().map(String::as_str).chain(FONT_PATHS) {
            if let Ok(bytes) = std::fs::read(p) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("plot: {e}"))
}

pub fn write_png(path: &Path, title: &str, genuine: &[f32], impostor: &[f32]) -> Result<()> {
    let (w, h) = (1200u32, 500u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let fonts = register_font();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (left, right) = root.split_horizontally(w / 2);
        // ROC: x = log10 FMR, y = TAR.
        let mut imp = impostor.to_vec();
        imp.sort_by(|a, b| b.total_cmp(a));
        let mut gen = genuine.to_vec();
        gen.sort_by(|a, b| b.total_cmp(a));
        let n_imp = imp.len().max(1) as f64;
        let min_x = -(n_imp.log10()).ceil().max(1.0);
        let mut points = Vec::new();
        let mut gi = 0;
        for (k, &t) in imp.iter().enumerate() {
            while gi < gen.len() && gen[gi] > t {
                gi += 1;
            }
            let fmr = ((k + 1) as f64 / n_imp).max(1e-12);
            points.push((fmr.log10(), gi as f64 / gen.len().max(1) as f64));
        }
        let mut builder = ChartBuilder::on(&left);
        let chart = builder.margin(15);
        if fonts {
            chart.caption(format!("ROC: {title}"), ("sans-serif", 18)).x_label_area_size(40).y_label_area_size(50);
        }
        let mut chart = chart.build_cartesian_2d(min_x..0.0, 0.8..1.0).map_err(err)?;
        if fonts {
            chart
                .configure_mesh()
                .x_desc("FMR (log scale)")
                .y_desc("TAR")
                .x_labels((-min_x) as usize + 1)
                .x_label_formatter(&|x| format!("1e{x:.0}"))
                .draw()
                .map_err(err)?;
        }
        chart.draw_series(LineSeries::new(points.into_iter().map(|(x, y)| (x, y.max(0.8))), BLUE.stroke_width(2))).map_err(err)?;
        // Histograms of cosine scores.
        let bins = 50usize;
        let hist = |v: &[f32]| {
            let mut c = vec![0f64; bins];
            for &s in v {
                let b = (((s + 1.0) / 2.0) * bins as f32).floor().clamp(0.0, bins as f32 - 1.0) as usize;
                c[b] += 1.0;
            }
            let total = v.len().max(1) as f64;
            c.into_iter().map(|x| x / total).collect::<Vec<f64>>()
        };
        let (hg, hi) = (hist(genuine), hist(impostor));
        let top = hg.iter().chain(&hi).cloned().fold(0.0, f64::max) * 1.1;
        let mut builder = ChartBuilder::on(&right);
        let chart = builder.margin(15);
        if fonts {
            chart.caption("cosine: genuine (green) vs impostor (red)", ("sans-serif", 18)).x_label_area_size(40).y_label_area_size(50);
        }
        let mut chart = chart.build_cartesian_2d(-1.0f64..1.0, 0.0..top.max(0.01)).map_err(err)?;
        if fonts {
            chart.configure_mesh().x_desc("cosine similarity").y_desc("share of pairs").draw().map_err(err)?;
        }
        for (h, color) in [(&hi, RED), (&hg, GREEN)] {
            chart
                .draw_series(h.iter().enumerate().map(|(b, &y)| {
                    let x0 = -1.0 + 2.0 * b as f64 / bins as f64;
                    Rectangle::new([(x0, 0.0), (x0 + 2.0 / bins as f64, y)], color.mix(0.5).filled())
                }))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    let img = image::RgbImage::from_raw(w, h, buf).ok_or_else(|| err("buffer size"))?;
    img.save(path).map_err(|e| err(format!("{}: {e}", path.display())))
}
