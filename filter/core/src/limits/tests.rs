use super::*;
use crate::mock::{MockProxy, T0};

fn limited(rpm: Option<u64>, tpm: Option<u64>) -> Client {
    Client {
        rpm,
        tpm,
        ..Client::unrestricted("team-a")
    }
}

#[test]
fn the_request_past_rpm_is_refused_whichever_worker_counts_it() {
    let proxy = MockProxy::new();
    let (one, two) = (proxy.worker(), proxy.worker());
    let client = limited(Some(3), None);
    prepare(&one, [&client].into_iter());
    assert!(admit(&one, &client, T0).is_ok());
    assert!(admit(&two, &client, T0).is_ok());
    assert!(admit(&one, &client, T0).is_ok());
    let refused = admit(&two, &client, T0).unwrap_err();
    assert_eq!(refused.http_code(), 429);
    assert!(refused.body().contains("RESOURCE_EXHAUSTED"));
    assert!(admit(&one, &client, T0).is_err());
}

#[test]
fn the_next_minute_starts_over() {
    let proxy = MockProxy::new();
    let worker = proxy.worker();
    let client = limited(Some(1), None);
    assert!(admit(&worker, &client, T0).is_ok());
    assert!(admit(&worker, &client, T0).is_err());
    let next_minute = (T0 / MINUTE_MS + 1) * MINUTE_MS;
    assert!(admit(&worker, &client, next_minute).is_ok());
}

#[test]
fn retry_after_is_the_seconds_left_in_the_minute() {
    let proxy = MockProxy::new();
    let worker = proxy.worker();
    let client = limited(Some(1), None);
    let start = (T0 / MINUTE_MS) * MINUTE_MS;
    admit(&worker, &client, start + 15_500).unwrap();
    let refused = admit(&worker, &client, start + 15_500).unwrap_err();
    assert_eq!(refused.retry_after_s, Some(45));
    let refused = admit(&worker, &client, start + 59_999).unwrap_err();
    assert_eq!(refused.retry_after_s, Some(1));
}

#[test]
fn spent_tokens_refuse_the_rest_of_the_minute() {
    let proxy = MockProxy::new();
    let (one, two) = (proxy.worker(), proxy.worker());
    let client = limited(None, Some(100));
    assert!(admit(&one, &client, T0).is_ok());
    spend_tokens(&one, &client, T0, 60);
    assert!(admit(&two, &client, T0).is_ok());
    spend_tokens(&two, &client, T0, 40);
    let refused = admit(&one, &client, T0).unwrap_err();
    assert!(refused.message.contains("tokens per minute"), "{refused:?}");
}

#[test]
fn a_client_without_limits_reads_no_shared_data() {
    let proxy = MockProxy::new();
    let worker = proxy.worker();
    let client = Client::unrestricted("team-b");
    prepare(&worker, [&client].into_iter());
    for _ in 0..5 {
        assert!(admit(&worker, &client, T0).is_ok());
    }
    spend_tokens(&worker, &client, T0, 10);
    assert_eq!(worker.shared_reads(), 0);
}

#[test]
fn a_window_survives_its_encoding() {
    let window = Window {
        minute: 28_333_333,
        requests: 7,
        tokens: 1 << 40,
    };
    assert_eq!(Window::decode(&window.encode()), Some(window));
    assert_eq!(Window::decode(&[1, 2, 3]), None);
}
