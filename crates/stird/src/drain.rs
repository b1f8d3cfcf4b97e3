//! Graceful shutdown of the SIP listeners: each handler is wrapped so that
//! the requests it is handling are counted, and so that, once shutdown
//! begins, requests that still arrive on open connections are dropped.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use sip::redirect::{ListenerStats, Outgoing};
use sip::transport::{Connections, Handler, Inbound};
use tokio::sync::Notify;

/// The SIP requests being handled by every listener, and whether shutdown
/// has begun.
#[derive(Debug, Default)]
pub struct InFlight {
    handling: AtomicUsize,
    closing: AtomicBool,
    /// Requests dropped because they arrived after shutdown began.
    dropped: AtomicU64,
    idle: Notify,
}

impl InFlight {
    /// Starts the shutdown: requests received from now on are dropped.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    /// Returns the number of requests being handled.
    pub fn handling(&self) -> usize {
        self.handling.load(Ordering::SeqCst)
    }

    /// Returns the number of requests dropped since shutdown began.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Waits until no request is being handled, or until `deadline` passes;
    /// returns true when none is.
    pub async fn wait_idle(&self, deadline: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.idle.notified();
                if self.handling() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(deadline, wait).await.is_ok()
    }
}

/// Decrements the count of requests being handled when dropped, whether the
/// handler finished or its task was cancelled.
struct Handling(Arc<InFlight>);

impl Drop for Handling {
    fn drop(&mut self) {
        if self.0.handling.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A SIP handler whose requests are counted in an [`InFlight`].
pub struct Tracked {
    inner: Arc<dyn Handler>,
    in_flight: Arc<InFlight>,
}

impl Tracked {
    pub fn new(inner: Arc<dyn Handler>, in_flight: Arc<InFlight>) -> Self {
        Tracked { inner, in_flight }
    }
}

impl Handler for Tracked {
    fn handle<'a>(
        &'a self,
        bytes: &'a [u8],
        source: SocketAddr,
        inbound: Inbound,
        now: i64,
    ) -> Pin<Box<dyn Future<Output = Option<Outgoing>> + Send + 'a>> {
        // Counted before the check, so that a request accepted here is
        // always seen by a shutdown that starts at the same moment.
        self.in_flight.handling.fetch_add(1, Ordering::SeqCst);
        let handling = Handling(Arc::clone(&self.in_flight));
        if self.in_flight.closing.load(Ordering::SeqCst) {
            self.in_flight.dropped.fetch_add(1, Ordering::Relaxed);
            return Box::pin(async move {
                drop(handling);
                None
            });
        }
        Box::pin(async move {
            let outgoing = self.inner.handle(bytes, source, inbound, now).await;
            drop(handling);
            outgoing
        })
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn stats(&self) -> Option<&ListenerStats> {
        self.inner.stats()
    }

    fn connections(&self) -> Option<&Connections> {
        self.inner.connections()
    }
}
