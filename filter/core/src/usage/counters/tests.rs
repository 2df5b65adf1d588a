use super::*;
use crate::mock::{MockHost, MockProxy};

fn usage(prompt: u64, response: u64) -> Option<Usage> {
    Some(Usage {
        prompt_tokens: prompt,
        response_tokens: response,
        total_tokens: prompt + response,
    })
}

fn worker(proxy: &Rc<MockProxy>) -> (MockHost, UsageCounters) {
    let host = proxy.worker();
    UsageCounters::prepare(&host);
    (host, UsageCounters::default())
}

#[test]
fn a_pair_counts_requests_and_tokens_under_its_client_and_model() {
    let proxy = MockProxy::new();
    let (host, counters) = worker(&proxy);
    let team: Rc<str> = "team-a".into();
    counters
        .pair(&host, &team, "gemini-2.0-flash")
        .count(usage(4, 6), false);
    counters
        .pair(&host, &team, "gemini-2.0-flash")
        .count(None, true);
    counters.flush(&host);
    let name = |what: &str| format!("usage.client.team-a.model.gemini-2_0-flash.{what}");
    assert_eq!(proxy.metric(&name("requests")), 2);
    assert_eq!(proxy.metric(&name("prompt_tokens")), 4);
    assert_eq!(proxy.metric(&name("response_tokens")), 6);
    assert_eq!(proxy.metric(&name("total_tokens")), 10);
    assert_eq!(proxy.metric(&name("errors")), 1);
}

#[test]
fn a_pair_met_again_costs_no_shared_data_read() {
    let proxy = MockProxy::new();
    let (host, counters) = worker(&proxy);
    let team: Rc<str> = "team-a".into();
    counters.pair(&host, &team, "flash");
    let reads = host.shared_reads();
    counters
        .pair(&host, &team, "flash")
        .count(usage(1, 1), false);
    assert_eq!(host.shared_reads(), reads);
}

#[test]
fn past_256_pairs_across_two_workers_the_rest_count_under_other() {
    let proxy = MockProxy::new();
    let (one, first) = worker(&proxy);
    let (two, second) = worker(&proxy);
    let team: Rc<str> = "team-a".into();
    for n in 0..MAX_PAIRS {
        let (host, counters) = if n % 2 == 0 {
            (&one, &first)
        } else {
            (&two, &second)
        };
        counters
            .pair(host, &team, &format!("m{n}"))
            .count(usage(1, 0), false);
    }
    // A pair the other worker registered is still its own here.
    second.pair(&two, &team, "m0").count(usage(1, 0), false);
    first.pair(&one, &team, "late-1").count(usage(5, 0), false);
    second.pair(&two, &team, "late-2").count(usage(7, 0), false);
    // Known to be full: a new pair is refused without reading shared data.
    let reads = one.shared_reads();
    first.pair(&one, &team, "late-3").count(usage(1, 0), false);
    assert_eq!(one.shared_reads(), reads);
    first.flush(&one);
    second.flush(&two);
    assert_eq!(proxy.metric("usage.client.team-a.model.m0.requests"), 2);
    assert_eq!(proxy.metric("usage.client.team-a.model.m255.requests"), 1);
    assert_eq!(proxy.metric("usage.client.team-a.model.late-1.requests"), 0);
    assert_eq!(proxy.metric("usage.client.team-a.model.other.requests"), 3);
    assert_eq!(
        proxy.metric("usage.client.team-a.model.other.total_tokens"),
        13
    );
}
