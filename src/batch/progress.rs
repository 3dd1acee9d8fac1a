//! Progress bars of a batch on standard error: one overall bar (cases done, ETA) and one line
//! per running case with the bytes read so far. Hidden when standard error is not a terminal,
//! so logs and pipes get no control characters; a case's name is shown through
//! [`visible`], so a folder named with escape sequences cannot drive the terminal.

use crate::input::Progress;
use crate::report::visible;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// How often the per-case lines take the byte counts (the readers only add to a counter).
const REFRESH: Duration = Duration::from_millis(150);

pub(super) struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    /// The running cases: their index in the queue, their line and the counter their reader
    /// adds to.
    running: Mutex<Vec<(usize, ProgressBar, Progress)>>,
}

impl Bars {
    pub(super) fn new(cases: usize, show: bool) -> Self {
        let target = if show && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(cases as u64));
        overall.set_style(style("{bar:30} {pos}/{len} cases done, ETA {eta}"));
        Bars {
            multi,
            overall,
            running: Mutex::new(Vec::new()),
        }
    }

    /// A line for the case `index` of the queue, which starts.
    pub(super) fn start(&self, index: usize, name: &str, counter: Progress) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(style(
            "{spinner} {prefix:30!} {binary_bytes} read, {elapsed}",
        ));
        bar.set_prefix(visible(name).into_owned());
        if let Ok(mut running) = self.running.lock() {
            running.push((index, bar.clone(), counter));
        }
        bar
    }

    /// The case `index` is done: its line goes, the overall bar moves.
    pub(super) fn finish(&self, index: usize, bar: ProgressBar) {
        // By index, not by the line's text: two names can look alike once made visible.
        if let Ok(mut running) = self.running.lock() {
            running.retain(|(i, b, _)| !b.is_finished() && *i != index);
        }
        bar.finish_and_clear();
        self.multi.remove(&bar);
        self.overall.inc(1);
    }

    /// Runs `work` while a thread copies the byte counters into the lines. The thread stops
    /// the moment the work is done, not at its next refresh.
    pub(super) fn while_running<T>(&self, work: impl FnOnce() -> T) -> T {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let result = std::thread::scope(|scope| {
            scope.spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(REFRESH)
                {
                    self.refresh();
                }
            });
            let result = work();
            drop(stop);
            result
        });
        self.overall.finish_and_clear();
        result
    }

    fn refresh(&self) {
        if let Ok(running) = self.running.lock() {
            for (_, bar, counter) in running.iter() {
                bar.set_position(counter.bytes());
                bar.tick();
            }
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}
