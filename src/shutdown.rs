//! The end of `guichet serve`: once the HTTP server has drained its
//! requests, the threads that work on their own (the mail worker, the
//! retention scheduler) finish what they are doing, a message or a sweep
//! batch, and are waited for, so that the process never exits in the middle
//! of an SMTP exchange or under a thread still using the database.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a background thread checks between two pieces of work.
#[derive(Clone, Default)]
pub struct Stop {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl Stop {
    /// Waits `pause`, or less when the service stops; answers whether the
    /// thread should go on.
    pub fn pause(&self, pause: Duration) -> bool {
        let (stopping, wake) = &*self.inner;
        let guard = stopping.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = wake
            .wait_timeout_while(guard, pause, |stopping| !*stopping)
            .unwrap_or_else(|p| p.into_inner());
        !*guard
    }

    fn request(&self) {
        let (stopping, wake) = &*self.inner;
        *stopping.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
    }
}

/// The background threads of one service.
#[derive(Default)]
pub struct Background {
    stop: Stop,
    threads: Vec<JoinHandle<()>>,
}

impl Background {
    pub fn stop(&self) -> &Stop {
        &self.stop
    }

    pub fn add(&mut self, thread: JoinHandle<()>) {
        self.threads.push(thread);
    }

    /// Asks every thread to stop and waits for them, at most `timeout` in
    /// all; answers how many were still running then.
    pub fn finish(mut self, timeout: Duration) -> usize {
        self.stop.request();
        let deadline = Instant::now() + timeout;
        let mut left = std::mem::take(&mut self.threads);
        while !left.is_empty() && Instant::now() < deadline {
            let (done, running): (Vec<_>, Vec<_>) =
                left.into_iter().partition(JoinHandle::is_finished);
            for thread in done {
                let _ = thread.join();
            }
            left = running;
            if !left.is_empty() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        left.len()
    }
}

/// A service dropped without being run to its end (a test's, or one whose
/// start failed later) still stops its threads, without waiting for them.
impl Drop for Background {
    fn drop(&mut self) {
        self.stop.request();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_ends_when_the_service_stops_and_finish_waits_for_the_threads() {
        let mut background = Background::default();
        let stop = background.stop().clone();
        let worked = Arc::new(Mutex::new(0));
        let counter = worked.clone();
        background.add(std::thread::spawn(move || {
            while stop.pause(Duration::from_secs(3600)) {
                *counter.lock().unwrap() += 1;
            }
            // The last piece of work, after the request to stop.
            std::thread::sleep(Duration::from_millis(50));
            *counter.lock().unwrap() += 100;
        }));
        let started = Instant::now();
        assert_eq!(background.finish(Duration::from_secs(5)), 0);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(*worked.lock().unwrap(), 100, "waited for the last piece");
    }

    #[test]
    fn a_dropped_service_stops_its_threads() {
        let background = Background::default();
        let stop = background.stop().clone();
        let thread = std::thread::spawn(move || while stop.pause(Duration::from_secs(3600)) {});
        drop(background);
        thread.join().unwrap();
    }

    #[test]
    fn finish_gives_up_after_its_timeout() {
        let mut background = Background::default();
        background.add(std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(500))
        }));
        assert_eq!(background.finish(Duration::from_millis(50)), 1);
    }
}
