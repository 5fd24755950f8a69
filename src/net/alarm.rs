//! The network task's alarm clock: one deadline, moved often and either way, that wakes the
//! thread only when it is reached.
//!
//! tokio's timers wake the thread early for a timer that was moved later (it fires at the old
//! time and is put back), and once more for any timer set further ahead than 64 ms (its timer
//! wheel moves it to a finer level then). An idle node sets such timers all the time, so on
//! Linux the alarm is a `timerfd`: the kernel wakes the thread once, at the deadline.

use std::time::Duration;

use tokio::time::Instant;

/// One deadline at a time; `fired` resolves once it has passed.
pub(super) struct Alarm {
    /// The deadline armed, until it goes off (then `None`: setting the same deadline again
    /// arms it again, and a deadline in the past goes off at once, as a tokio timer would).
    at: Option<Instant>,
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<linux::Timer>>,
    /// Elsewhere (or if no timerfd could be made), a tokio timer.
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Alarm {
    /// An alarm set for `at`. Must be made inside the tokio runtime.
    pub(super) fn new(at: Instant) -> Self {
        // `AsyncFd::new` is deprecated for types whose fd could be closed while registered
        // (its replacement is `unsafe`, which this crate forbids). `Timer` owns its fd and
        // keeps it open until the `AsyncFd` has deregistered it and drops it.
        #[cfg(target_os = "linux")]
        #[allow(deprecated)]
        let fd = linux::Timer::new().and_then(tokio::io::unix::AsyncFd::new).ok();
        let mut alarm = Alarm {
            at: None,
            #[cfg(target_os = "linux")]
            fd,
            sleep: Box::pin(tokio::time::sleep_until(at)),
        };
        alarm.set(at);
        alarm
    }

    /// The alarm goes off at `at` (and not at the time it was set for before).
    pub(super) fn set(&mut self, at: Instant) {
        if self.at == Some(at) {
            return;
        }
        self.at = Some(at);
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            // A zero delay would disarm a timerfd: a deadline already passed is one tick away.
            let d = at.saturating_duration_since(Instant::now()).max(Duration::from_nanos(1));
            if fd.get_ref().arm(d).is_ok() {
                return;
            }
        }
        if at < self.sleep.deadline() {
            self.sleep.as_mut().reset(at);
        } else {
            // A new timer rather than a later deadline on the old one (see above).
            self.sleep = Box::pin(tokio::time::sleep_until(at));
        }
    }

    /// Resolves when the deadline has passed (now, if it already has). Cancel-safe.
    pub(super) async fn fired(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            // The fd's own waker slot, not a waiter list entry made and unmade each time.
            while let Ok(mut ready) = std::future::poll_fn(|cx| fd.poll_read_ready(cx)).await {
                match ready.get_inner().expired() {
                    Ok(true) => {
                        self.at = None;
                        return;
                    }
                    Ok(false) => ready.clear_ready(),
                    Err(_) => break, // cannot happen with a valid timerfd; fall back
                }
            }
        }
        self.sleep.as_mut().await;
        self.at = None;
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
    use std::time::Duration;

    use rustix::io::Errno;
    use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};

    /// A non-blocking timerfd on the monotonic clock (tokio's `Instant` is that clock).
    pub(super) struct Timer(OwnedFd);

    impl Timer {
        pub(super) fn new() -> io::Result<Self> {
            let flags = TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC;
            Ok(Timer(rustix::time::timerfd_create(TimerfdClockId::Monotonic, flags)?))
        }

        /// Goes off once, `d` from now; replaces any earlier setting (and what it counted).
        pub(super) fn arm(&self, d: Duration) -> io::Result<()> {
            let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
            let value = Timespec::try_from(d).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            let spec = Itimerspec { it_interval: zero, it_value: value };
            rustix::time::timerfd_settime(&self.0, TimerfdTimerFlags::empty(), &spec)?;
            Ok(())
        }

        /// Whether it went off since it was armed (taking that note).
        pub(super) fn expired(&self) -> io::Result<bool> {
            match rustix::io::read(&self.0, &mut [0u8; 8]) {
                Ok(_) => Ok(true),
                Err(Errno::AGAIN | Errno::INTR) => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
    }

    impl AsRawFd for Timer {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_fd().as_raw_fd()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits for the alarm, or gives up after `limit` (false).
    async fn goes_off_within(alarm: &mut Alarm, limit: Duration) -> bool {
        tokio::time::timeout(limit, alarm.fired()).await.is_ok()
    }

    #[tokio::test]
    async fn it_goes_off_at_its_deadline_again_for_a_past_one_and_at_the_earlier_when_moved() {
        let start = Instant::now();
        let mut alarm = Alarm::new(start + Duration::from_millis(300));
        assert!(!goes_off_within(&mut alarm, Duration::from_millis(5)).await, "not before its time");
        assert!(goes_off_within(&mut alarm, Duration::from_secs(5)).await);
        assert!(start.elapsed() >= Duration::from_millis(300));
        // The same deadline, now past, set again: off at once (the driver's core had not moved
        // it; its work is due), as a tokio timer would.
        alarm.set(start + Duration::from_millis(300));
        assert!(goes_off_within(&mut alarm, Duration::from_millis(500)).await);
        // Moved later, then earlier: the earlier counts.
        let t = Instant::now();
        alarm.set(t + Duration::from_secs(60));
        alarm.set(t + Duration::from_millis(20));
        assert!(goes_off_within(&mut alarm, Duration::from_secs(5)).await);
        // Moved earlier, then later: not at the earlier one.
        let t = Instant::now();
        alarm.set(t + Duration::from_millis(10));
        alarm.set(t + Duration::from_secs(1));
        assert!(!goes_off_within(&mut alarm, Duration::from_millis(150)).await);
        assert!(goes_off_within(&mut alarm, Duration::from_secs(5)).await);
    }
}
