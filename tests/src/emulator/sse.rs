//! A streamed response body that hands out its chunks one interval apart, records each chunk as
//! it goes to the connection, and counts the stream as cancelled if it is dropped unfinished
//! (hyper drops the body when the client goes away).
use super::record::StreamEvent;
use super::state::{lock, Shared};
use bytes::Bytes;
use hyper::body::{Body, Frame};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::time::{sleep, Sleep};

pub(crate) struct PacedEvents {
    pending: VecDeque<Bytes>,
    total: usize,
    sent: usize,
    interval: Duration,
    delay: Pin<Box<Sleep>>,
    request_index: usize,
    shared: Arc<Shared>,
}

impl PacedEvents {
    pub fn new(shared: Arc<Shared>, request_index: usize, chunks: Vec<Bytes>) -> Self {
        let interval = shared.sse_interval;
        PacedEvents {
            total: chunks.len(),
            pending: chunks.into(),
            sent: 0,
            interval,
            delay: Box::pin(sleep(Duration::ZERO)),
            request_index,
            shared,
        }
    }
}

impl Body for PacedEvents {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.pending.is_empty() {
            return Poll::Ready(None);
        }
        if this.delay.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let Some(chunk) = this.pending.pop_front() else {
            return Poll::Ready(None);
        };
        lock(&this.shared.records).stream_events.push(StreamEvent {
            request_index: this.request_index,
            chunk_index: this.sent,
            last: this.pending.is_empty(),
            sent_at: Instant::now(),
        });
        this.sent += 1;
        let next_at = tokio::time::Instant::now() + this.interval;
        this.delay.as_mut().reset(next_at);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty()
    }
}

impl Drop for PacedEvents {
    fn drop(&mut self) {
        if self.sent < self.total {
            lock(&self.shared.records).cancelled_streams += 1;
        }
    }
}
