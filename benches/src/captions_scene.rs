//! Scene C1 (`--rows captions`): 720p30 of `--captions-seconds` (default 600 s), a background, a
//! shape sliding across the whole time and a title; rendered end to end without captions, with one
//! caption cue every 2 s (300 cues for 10 minutes: boxed, stroked), and with the same cues plus word
//! highlighting. Each render runs in a child process, which reports its fps and peak RSS; a run a
//! tenth as long shows whether memory grows with length.

use std::path::Path;

use serde_json::json;
use vrender_engine::Project;

use crate::{child_rss, ChildRss, Res, Row};

/// The scene in words, for the report.
pub const DESCRIPTION: &str =
    "C1: 1280x720 @ 30 fps, a sliding shape and a title; captions: one cue per 2 s, boxed and stroked";

/// The C1 project of `seconds`, with `captions`: none, plain cues, or cues with word highlight.
pub fn project(seconds: f64, captions: Option<bool>) -> Res<Project> {
    let cues: Vec<serde_json::Value> = (0..(seconds / 2.0).floor() as usize)
        .map(|k| {
            let start = k as f64 * 2.0;
            json!({
                "start": start,
                "end": start + 1.9,
                "text": format!("Caption number {k}: these words are spoken now")
            })
        })
        .collect();
    let mut layers = vec![
        json!({"type": "shape", "shape": "roundedRect", "width": 320, "height": 180,
               "fill": {"type": "linear", "angle": 30, "stops": [
                   {"offset": 0, "color": "#ff7a59"}, {"offset": 1, "color": "#6a5cff"}]},
               "x": 0, "y": 200,
               "animations": [{"property": "x", "from": 0, "to": 960, "start": 0, "end": seconds}]}),
        json!({"type": "text", "text": "Weekly update", "size": 56, "color": "#ffffff",
               "x": 640, "y": 40, "anchor": "top"}),
    ];
    if let Some(highlight) = captions {
        let mut c = json!({"type": "captions", "cues": cues, "size": 40, "color": "#ffffff",
            "stroke": {"color": "#000000", "width": 2},
            "background": {"color": "#000000a0", "padding": 10, "cornerRadius": 8},
            "maxLines": 2, "x": 640, "y": 690, "anchor": "bottom"});
        if highlight {
            c["highlight"] = json!({"color": "#ffd24a"});
        }
        layers.push(c);
    }
    let p = json!({
        "width": 1280, "height": 720, "frameRate": 30, "quality": "medium",
        "frames": [{"duration": seconds, "background": "#203040", "layers": layers}]
    });
    Ok(Project::from_json(&p.to_string())?)
}

fn write(dir: &Path, name: &str, p: &Project) -> Res<std::path::PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, p.to_json_pretty())?;
    Ok(path)
}

fn rss_row(name: &str, r: &ChildRss) -> Row {
    Row::new(name, Some(r.kib as f64 / 1024.0), "MiB", 0)
        .noted(format!("{} frames, {:.1} fps", r.frames, r.fps))
}

/// Runs the C1 rows: end to end and peak RSS without captions, with captions, with highlight.
pub fn run_rows(seconds: f64, dir: &Path, rows: &mut Vec<Row>) -> Res<()> {
    let none = write(dir, "c1-none.json", &project(seconds, None)?)?;
    let plain = write(dir, "c1-captions.json", &project(seconds, Some(false))?)?;
    let words = write(dir, "c1-highlight.json", &project(seconds, Some(true))?)?;
    let short = write(
        dir,
        "c1-captions-short.json",
        &project(seconds / 10.0, Some(false))?,
    )?;
    let cues = (seconds / 2.0).floor();
    let r_none = child_rss(&none, 1.0, None)?;
    let r_plain = child_rss(&plain, 1.0, None)?;
    let r_words = child_rss(&words, 1.0, None)?;
    let r_short = child_rss(&short, 1.0, None)?;
    rows.push(Row::fps(
        &format!("C1 end to end, {seconds} s, no captions"),
        r_none.fps,
    ));
    rows.push(Row::fps(
        &format!("C1 end to end, {cues} caption cues"),
        r_plain.fps,
    ));
    rows.push(Row::fps(
        &format!("C1 end to end, {cues} cues with word highlight"),
        r_words.fps,
    ));
    rows.push(Row::ratio(
        "C1 captions ÷ no captions (fps)",
        r_plain.fps / r_none.fps,
        3,
    ));
    rows.push(Row::ratio(
        "C1 highlighted captions ÷ no captions (fps)",
        r_words.fps / r_none.fps,
        3,
    ));
    rows.push(rss_row("C1 peak RSS, no captions", &r_none));
    rows.push(rss_row("C1 peak RSS, captions", &r_plain));
    rows.push(rss_row("C1 peak RSS, captions with highlight", &r_words));
    rows.push(rss_row(
        &format!("C1 peak RSS, captions, {} s", seconds / 10.0),
        &r_short,
    ));
    rows.push(Row::ratio(
        "C1 captions RSS: full length ÷ a tenth",
        r_plain.kib as f64 / r_short.kib as f64,
        3,
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_minutes_have_300_valid_cues() {
        for captions in [None, Some(false), Some(true)] {
            let p = project(600.0, captions).unwrap();
            p.validate(&Default::default(), &Default::default())
                .unwrap();
            let cues = p.frames[0]
                .layers
                .iter()
                .find_map(|l| l.cues.as_ref())
                .map_or(0, |c| c.len());
            assert_eq!(cues, if captions.is_some() { 300 } else { 0 });
        }
    }
}
