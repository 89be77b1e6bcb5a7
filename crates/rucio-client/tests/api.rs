//! Every read call of the API against the seeded data of the real Rucio server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::{StreamExt, TryStreamExt};
use rucio_client::{Did, DidSearchType, DidType, ReplicaQuery, RequestState};
use test_kit::Kit;

fn did(s: &str) -> Did {
    Did::parse(s).unwrap()
}

#[tokio::test]
async fn ping_and_whoami() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let client = kit.root(dir.path());
    assert_eq!(client.ping().await.unwrap().version, kit.get("RUCIO_VERSION"));
    let me = client.whoami().await.unwrap();
    assert_eq!(me.account, "root");
    assert_eq!(me.account_type.as_deref(), Some("SERVICE"));
    assert!(me.created_at.is_some());
    let jdoe = kit.jdoe(dir.path()).whoami().await.unwrap();
    assert_eq!((jdoe.account.as_str(), jdoe.account_type.as_deref()), ("jdoe", Some("USER")));
}

#[tokio::test]
async fn dids_lookup_search_content_files_parents() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let client = kit.root(dir.path());

    let ds = client.get_did(&did("data24:data24.run00001.DAOD"), true).await.unwrap();
    assert_eq!(ds.did_type, DidType::Dataset);
    assert_eq!((ds.bytes, ds.length, ds.open), (Some(6003), Some(3), Some(false)));

    let names: Vec<String> = client
        .list_dids("data24", &[("name", "data24.*")], DidSearchType::Collection, false, None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    for expected in ["data24.run00001.DAOD", "data24.run00002.DAOD", "data24.physics_Main.DAOD"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.ends_with(".root")),
        "files must not match a collection search: {names:?}"
    );

    let by_meta: Vec<String> = client
        .list_dids("data24", &[("run_number", "2")], DidSearchType::Dataset, false, None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_meta, ["data24.run00002.DAOD"]);

    let long: Vec<_> = client
        .list_dids_long(
            "data24",
            &[("name", "data24.run00001.DAOD")],
            DidSearchType::Dataset,
            false,
            None,
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(long.len(), 1);
    assert_eq!((long[0].did_type.clone(), long[0].bytes), (DidType::Dataset, Some(6003)));

    let content: Vec<_> = client
        .list_content(&did("data24:data24.physics_Main.DAOD"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut children: Vec<_> =
        content.iter().map(|c| (c.name.as_str(), c.did_type.clone())).collect();
    children.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(
        children,
        [("data24.run00001.DAOD", DidType::Dataset), ("data24.run00002.DAOD", DidType::Dataset)]
    );

    let files: Vec<_> = client
        .list_files(&did("data24:data24.run00001.DAOD"), false)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(files.len(), 3);
    let first = files.iter().find(|f| f.name == "data24.run00001.DAOD._000001.root").unwrap();
    assert_eq!((first.bytes, first.events), (Some(1001), Some(10)));
    assert_eq!(first.adler32.as_ref().map(String::len), Some(8));
    // A container resolves to the files of its datasets.
    let all = client
        .list_files(&did("data24:data24.physics_Main.DAOD"), false)
        .await
        .unwrap()
        .count()
        .await;
    assert_eq!(all, 6);

    let parents: Vec<_> = client
        .list_parent_dids(&did("data24:data24.run00001.DAOD._000001.root"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(parents.len(), 1);
    assert_eq!(
        (parents[0].name.as_str(), &parents[0].did_type),
        ("data24.run00001.DAOD", &DidType::Dataset)
    );
}

#[tokio::test]
async fn metadata_of_fixed_columns() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let meta = kit
        .root(dir.path())
        .get_metadata(&did("data24:data24.run00002.DAOD"), "DID_COLUMN")
        .await
        .unwrap();
    assert_eq!(meta["project"], "data24");
    assert_eq!(meta["datatype"], "DAOD");
    assert_eq!(meta["run_number"], 2);
    assert_eq!(meta["stream_name"], "physics_Main");
}

#[tokio::test]
async fn paging_reads_only_what_is_taken() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let client = kit.root(dir.path());
    let stream = client
        .list_dids("data24", &[("name", "*")], DidSearchType::All, false, None)
        .await
        .unwrap();
    let page: Vec<String> = stream.skip(2).take(3).try_collect().await.unwrap();
    assert_eq!(page.len(), 3);
    let all: Vec<String> = client
        .list_dids("data24", &[("name", "*")], DidSearchType::All, false, None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 9, "2 datasets, 1 container, 6 files: {all:?}");
    assert_eq!(page, all[2..5]);
    // The server-side limit stops the search early.
    let limited: Vec<String> = client
        .list_dids("data24", &[("name", "*")], DidSearchType::All, false, Some(4))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(limited.len(), 4);
}

#[tokio::test]
async fn replicas_of_files_and_datasets() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let client = kit.root(dir.path());
    let replicas: Vec<_> = client
        .list_replicas(&[did("data24:data24.run00001.DAOD")], &ReplicaQuery::default())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(replicas.len(), 3);
    for r in &replicas {
        let pfns = &r.rses["MOCK-POSIX"];
        assert!(pfns[0].starts_with("file://") && pfns[0].contains(&r.name), "{pfns:?}");
        assert!(r.pfns.contains_key(&pfns[0]));
    }
    let query = ReplicaQuery {
        all_states: true,
        rse_expression: Some("MOCK-POSIX".into()),
        ..Default::default()
    };
    let with_states: Vec<_> = client
        .list_replicas(&[did("test:file_1.txt")], &query)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(with_states[0].states.get("MOCK-POSIX").map(String::as_str), Some("AVAILABLE"));
    let elsewhere =
        ReplicaQuery { rse_expression: Some("MOCK-POSIX2".into()), ..Default::default() };
    let none: Vec<_> = client
        .list_replicas(&[did("test:file_1.txt")], &elsewhere)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(none.iter().all(|r| r.rses.is_empty()), "{none:?}");

    let ds: Vec<_> = client
        .list_dataset_replicas(&did("data24:data24.run00001.DAOD"), false)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    // Without `deep`, Rucio reports its collection-replica table, which no daemon fills here.
    assert_eq!(ds.iter().map(|r| r.rse.as_str()).collect::<Vec<_>>(), ["MOCK-POSIX"]);
    let deep: Vec<_> = client
        .list_dataset_replicas(&did("data24:data24.run00001.DAOD"), true)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(deep.len(), 1);
    let d = &deep[0];
    assert_eq!(
        (d.rse.as_str(), d.available_length, d.available_bytes, d.state.as_deref()),
        ("MOCK-POSIX", Some(3), Some(6003), Some("AVAILABLE"))
    );
    let bulk: Vec<_> = client
        .list_dataset_replicas_bulk(&[
            did("data24:data24.run00001.DAOD"),
            did("data24:data24.run00002.DAOD"),
        ])
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(bulk.iter().any(|r| r.name == "data24.run00002.DAOD"), "{bulk:?}");
}

#[tokio::test]
async fn rules_and_locks() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let client = kit.root(dir.path());
    let ok_rule = kit.rule_id("data24.run00001.DAOD@MOCK-POSIX");
    let rule = client.get_rule(&ok_rule).await.unwrap();
    assert_eq!((rule.state.as_str(), rule.locks_ok_cnt, rule.copies), ("OK", Some(3), 1));
    assert_eq!(rule.comments.as_deref(), Some("pin on source"));
    assert!(rule.created_at.is_some());

    let replicating =
        client.get_rule(&kit.rule_id("data24.run00002.DAOD@MOCK-POSIX2")).await.unwrap();
    assert_eq!(replicating.state, "REPLICATING");
    assert!(replicating.expires_at.is_some());

    let on_did: Vec<_> = client
        .list_did_rules(&did("data24:data24.run00001.DAOD"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(on_did.iter().any(|r| r.id == ok_rule));
    let by_state: Vec<_> = client
        .list_rules(&[("scope", "data24"), ("state", "R")])
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(by_state.iter().all(|r| r.state == "REPLICATING") && !by_state.is_empty());
    let of_account: Vec<_> =
        client.list_account_rules("root").await.unwrap().try_collect().await.unwrap();
    assert!(of_account.len() >= 3);
    let history: Vec<_> = client
        .list_rule_history(&did("data24:data24.run00001.DAOD"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(history.iter().any(|h| h.rule_id == ok_rule), "{history:?}");

    let locks: Vec<_> = client
        .get_dataset_locks(&did("data24:data24.run00001.DAOD"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        locks.iter().any(|l| l.rule_id == ok_rule && l.rse.as_deref() == Some("MOCK-POSIX")),
        "{locks:?}"
    );
    let at_rse: Vec<_> =
        client.get_dataset_locks_by_rse("MOCK-POSIX").await.unwrap().try_collect().await.unwrap();
    assert!(at_rse.iter().any(|l| l.name == "data24.run00001.DAOD"), "{at_rse:?}");
}

#[tokio::test]
async fn rses_and_transfers() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let client = kit.root(dir.path());
    let all: Vec<_> = client.list_rses(None).await.unwrap().try_collect().await.unwrap();
    let names: Vec<_> = all.iter().map(|r| r.rse.as_str()).collect();
    assert!(names.contains(&"MOCK-POSIX") && names.contains(&"MOCK-POSIX2"), "{names:?}");
    let tier1: Vec<_> =
        client.list_rses(Some("tier=1")).await.unwrap().try_collect().await.unwrap();
    assert_eq!(tier1.iter().map(|r| r.rse.as_str()).collect::<Vec<_>>(), ["MOCK-POSIX"]);

    let rse = client.get_rse("MOCK-POSIX").await.unwrap();
    assert_eq!(
        (rse.rse_type.as_deref(), rse.deterministic, rse.availability_write),
        (Some("DISK"), Some(true), Some(true))
    );
    assert_eq!(rse.protocols[0].scheme, "file");

    let attrs = client.list_rse_attributes("MOCK-POSIX").await.unwrap();
    assert_eq!(attrs["tier"], "1");
    assert_eq!(attrs["istape"], false);

    let usage: Vec<_> =
        client.get_rse_usage("MOCK-POSIX").await.unwrap().try_collect().await.unwrap();
    let storage = usage.iter().find(|u| u.source == "storage").unwrap();
    assert_eq!(storage.used, Some(1 << 30));
    assert!(usage.iter().any(|u| u.source == "rucio"));

    let limits = client.get_rse_limits("MOCK-POSIX").await.unwrap();
    assert_eq!(limits["MinFreeSpace"], 10_485_760);
    let protocols = client.get_rse_protocols("MOCK-POSIX2").await.unwrap();
    assert_eq!(protocols[0].scheme, "file");
    assert_eq!(protocols[0].implementation.as_deref(), Some("rucio.rse.protocols.posix.Default"));
    let distance = client.get_distance("MOCK-POSIX", "MOCK-POSIX2").await.unwrap();
    assert_eq!(distance[0].distance, Some(1));

    // No transfer machinery runs here: the calls work and the lists are empty.
    let limits: Vec<_> = client.list_transfer_limits().await.unwrap().try_collect().await.unwrap();
    assert!(limits.is_empty(), "{limits:?}");
    let requests: Vec<_> = client
        .list_requests(
            "MOCK-POSIX",
            "MOCK-POSIX2",
            &[RequestState::Queued, RequestState::Submitted],
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(requests.iter().all(|r| r.dest_rse.as_deref().is_none_or(|d| d == "MOCK-POSIX2")));
    let history: Vec<_> = client
        .list_requests_history("MOCK-POSIX", "MOCK-POSIX2", &[RequestState::Done], 0, 10)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(history.is_empty(), "{history:?}");
    // Every state's code is one the real server knows (an unknown one is "Request state value is
    // invalid"), on both endpoints.
    for state in RequestState::ALL {
        let listed = client.list_requests("MOCK-POSIX", "MOCK-POSIX2", &[state]).await;
        assert!(listed.is_ok(), "{state}: {:?}", listed.err());
        let listed: Result<Vec<_>, _> = listed.unwrap().try_collect().await;
        assert!(listed.is_ok(), "{state}: {:?}", listed.err());
        let history =
            client.list_requests_history("MOCK-POSIX", "MOCK-POSIX2", &[state], 0, 1).await;
        let history: Result<Vec<_>, _> = match history {
            Ok(stream) => stream.try_collect().await,
            Err(e) => Err(e),
        };
        assert!(history.is_ok(), "{state} (history): {:?}", history.err());
    }
    let queued: Vec<_> = client
        .list_requests("MOCK-POSIX", "MOCK-POSIX2", &RequestState::ALL)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        queued.iter().all(|r| r.state.as_deref().and_then(RequestState::parse).is_some()),
        "every state Rucio answers with parses: {queued:?}"
    );
}

#[tokio::test]
async fn accounts_scopes_subscriptions() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let client = kit.root(dir.path());
    let accounts: Vec<_> =
        client.list_accounts(None, None).await.unwrap().try_collect().await.unwrap();
    assert!(
        accounts.iter().any(|a| a.account == "jdoe" && a.account_type.as_deref() == Some("USER"))
    );
    let users: Vec<_> =
        client.list_accounts(Some("USER"), None).await.unwrap().try_collect().await.unwrap();
    assert!(users.iter().all(|a| a.account_type.as_deref() == Some("USER")) && !users.is_empty());
    let by_identity: Vec<_> =
        client.list_accounts(None, Some("jdoe")).await.unwrap().try_collect().await.unwrap();
    assert_eq!(by_identity.iter().map(|a| a.account.as_str()).collect::<Vec<_>>(), ["jdoe"]);

    let jdoe = client.get_account("jdoe").await.unwrap();
    assert_eq!(
        (jdoe.email.as_deref(), jdoe.status.as_deref()),
        (Some("jdoe@example.org"), Some("ACTIVE"))
    );

    let usage: Vec<_> =
        client.get_local_account_usage("root", None).await.unwrap().try_collect().await.unwrap();
    let posix = usage.iter().find(|u| u.rse == "MOCK-POSIX").unwrap();
    assert!(
        posix.bytes.unwrap_or(0) > 0 && posix.bytes_limit == Some(10.0 * 1024f64.powi(4)),
        "{posix:?}"
    );
    let one: Vec<_> = client
        .get_local_account_usage("root", Some("MOCK-POSIX2"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(one.iter().map(|u| u.rse.as_str()).collect::<Vec<_>>(), ["MOCK-POSIX2"]);

    let limits = client.get_local_account_limits("jdoe").await.unwrap();
    assert_eq!(limits["MOCK-POSIX"], 1_099_511_627_776u64);
    let limit = client.get_local_account_limit("root", "MOCK-POSIX2").await.unwrap();
    assert_eq!(limit["MOCK-POSIX2"], 10_995_116_277_760u64);

    let mut scopes = client.list_scopes().await.unwrap();
    scopes.sort();
    assert_eq!(scopes, ["data24", "test", "user.jdoe"]);
    assert_eq!(client.list_scopes_for_account("jdoe").await.unwrap(), ["user.jdoe"]);

    let subs: Vec<_> =
        client.list_subscriptions(None, None).await.unwrap().try_collect().await.unwrap();
    let seeded = &kit.seed()["subscription"];
    let sub = subs
        .iter()
        .find(|s| s.name == seeded["name"])
        .unwrap_or_else(|| panic!("seeded subscription missing: {subs:?}"));
    assert_eq!((sub.id.as_deref(), sub.account.as_deref()), (seeded["id"].as_str(), Some("root")));
    assert_eq!(sub.replication_rules.as_ref().unwrap()[0]["rse_expression"], "MOCK-POSIX2");
    let by_name: Vec<_> = client
        .list_subscriptions(None, Some("data24-to-posix2"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_name.len(), 1);
    let by_both: Vec<_> = client
        .list_subscriptions(Some("root"), Some("data24-to-posix2"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_both.len(), 1);
    let of_jdoe: Vec<_> =
        client.list_subscriptions(Some("jdoe"), None).await.unwrap().try_collect().await.unwrap();
    assert!(of_jdoe.is_empty(), "{of_jdoe:?}");
    let none: Vec<_> = client
        .list_subscriptions(Some("root"), Some("nope"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(none.is_empty());
    let rules: Vec<_> = client
        .list_subscription_rules("root", "data24-to-posix2")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(rules.is_empty(), "no transmogrifier runs here: {rules:?}");
}
