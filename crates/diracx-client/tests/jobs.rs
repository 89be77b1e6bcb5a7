//! The job, sandbox and config calls against the real DiracX 0.7.0 of `cargo xtask diracx up`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use diracx_client::{
    ClientOptions, Condition, DiracxClient, Error, JobSearch, JobStatus, JobStatusUpdate,
    SandboxFormat, ScalarOperator, SortDirection, SortSpec, StaticToken, StatusChange,
    VectorOperator,
};
use serde_json::{Value, json};
use test_kit::Kit;

fn client(kit: &Kit, token_key: &str) -> DiracxClient {
    let token = StaticToken::new(kit.get(token_key).to_owned().into());
    DiracxClient::new(kit.get("DIRACX_URL"), Arc::new(token), &ClientOptions::default()).unwrap()
}

fn ids(jobs: &[serde_json::Map<String, Value>]) -> Vec<u64> {
    jobs.iter().map(|j| j["JobID"].as_u64().unwrap()).collect()
}

fn by_name(name: &str) -> JobSearch {
    JobSearch {
        parameters: Some(vec!["JobID".into(), "JobName".into(), "Status".into(), "Owner".into()]),
        search: vec![Condition::eq("JobName", name)],
        ..JobSearch::default()
    }
}

#[tokio::test]
async fn search_pages_with_content_range_and_past_the_end() {
    let kit = Kit::diracx();
    let alice = client(&kit, "DIRACX_USER_TOKEN");
    let mut search = JobSearch {
        parameters: Some(vec!["JobID".into(), "Owner".into()]),
        search: vec![
            Condition::eq("Owner", "alice"),
            Condition::Scalar {
                parameter: "JobID".into(),
                operator: ScalarOperator::Lt,
                value: json!(7),
            },
        ],
        sort: vec![SortSpec { parameter: "JobID".into(), direction: SortDirection::Asc }],
        distinct: false,
    };
    let first = alice.search_jobs(&search, 1, 3).await.unwrap();
    assert_eq!(ids(&first.jobs), vec![1, 2, 3]);
    assert_eq!((first.total, first.first), (6, 0));
    assert!(first.has_more());
    let second = alice.search_jobs(&search, 2, 3).await.unwrap();
    assert_eq!(ids(&second.jobs), vec![4, 5, 6]);
    assert!(!second.has_more());
    let past = alice.search_jobs(&search, 5, 3).await.unwrap();
    assert!(past.jobs.is_empty());
    assert_eq!(past.total, 6);
    search.sort[0].direction = SortDirection::Desc;
    let all = alice.search_jobs(&search, 1, 100).await.unwrap();
    assert_eq!(ids(&all.jobs), vec![6, 5, 4, 3, 2, 1]);
    assert_eq!(all.total, 6);
}

#[tokio::test]
async fn every_search_operator_selects_what_it_says() {
    let kit = Kit::diracx();
    let admin = client(&kit, "DIRACX_ADMIN_TOKEN");
    let seeded = Condition::Scalar {
        parameter: "JobID".into(),
        operator: ScalarOperator::Lt,
        value: json!(10),
    };
    let run = |condition: Condition| {
        let admin = admin.clone();
        let seeded = seeded.clone();
        async move {
            let search = JobSearch {
                parameters: Some(vec!["JobID".into()]),
                search: vec![seeded, condition],
                sort: vec![SortSpec { parameter: "JobID".into(), direction: SortDirection::Asc }],
                distinct: false,
            };
            ids(&admin.search_jobs(&search, 1, 100).await.unwrap().jobs)
        }
    };
    let scalar = |parameter: &str, operator, value: Value| Condition::Scalar {
        parameter: parameter.into(),
        operator,
        value,
    };
    let vector = |parameter: &str, operator, values: Vec<Value>| Condition::Vector {
        parameter: parameter.into(),
        operator,
        values,
    };
    assert_eq!(run(scalar("Owner", ScalarOperator::Eq, json!("admin"))).await, vec![7, 8, 9]);
    assert_eq!(
        run(scalar("Owner", ScalarOperator::Neq, json!("admin"))).await,
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(run(scalar("JobID", ScalarOperator::Gt, json!(7))).await, vec![8, 9]);
    assert_eq!(run(scalar("JobName", ScalarOperator::Like, json!("%_done"))).await, vec![2, 8]);
    assert_eq!(
        run(scalar("JobName", ScalarOperator::NotLike, json!("alice%"))).await,
        vec![7, 8, 9]
    );
    assert_eq!(
        run(scalar("JobName", ScalarOperator::Regex, json!("^admin_(done|failed)$"))).await,
        vec![8, 9]
    );
    assert_eq!(
        run(vector("Site", VectorOperator::In, vec![json!("LCG.IN2P3.fr")])).await,
        vec![5, 6, 9]
    );
    assert_eq!(
        run(vector("JobID", VectorOperator::NotIn, vec![json!(1), json!(2), json!(3)])).await,
        vec![4, 5, 6, 7, 8, 9]
    );
}

#[tokio::test]
async fn a_normal_user_only_sees_their_own_jobs_and_summaries_group() {
    let kit = Kit::diracx();
    let alice = client(&kit, "DIRACX_USER_TOKEN");
    let seeded = vec![Condition::Scalar {
        parameter: "JobID".into(),
        operator: ScalarOperator::Lt,
        value: json!(10),
    }];
    let rows = alice.job_summary(&["Owner".into()], &seeded).await.unwrap();
    assert_eq!(rows, vec![json!({"Owner": "alice", "count": 6}).as_object().unwrap().clone()]);
    let admin = client(&kit, "DIRACX_ADMIN_TOKEN");
    let rows = admin.job_summary(&["Owner".into()], &seeded).await.unwrap();
    let total: u64 = rows.iter().map(|r| r["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 9);
    let err = alice.job_summary(&["NoSuchColumn".into()], &[]).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
}

#[tokio::test]
async fn submit_kill_delete_and_ignored_transitions_as_the_rest_api_shows_them() {
    let kit = Kit::diracx();
    let alice = client(&kit, "DIRACX_USER_TOKEN");
    let name = format!("client_kill_{}", std::process::id());
    let jdl = format!("[Executable = \"/bin/echo\"; Arguments = \"hi\"; JobName = \"{name}\";]");
    let inserted = alice.submit_jdl(&[jdl.clone(), jdl]).await.unwrap();
    assert_eq!(inserted.len(), 2);
    assert!(inserted.iter().all(|j| j.status == "Received"));
    let [a, b] = [inserted[0].job_id, inserted[1].job_id];

    // Received → Done is not a transition DiracX makes: reported as ignored, and nothing changes.
    let done = JobStatusUpdate {
        status: Some(JobStatus::Done),
        source: "test".into(),
        ..Default::default()
    };
    let outcome = alice.set_job_status(&[a], &done, false).await.unwrap();
    assert!(matches!(outcome.jobs[&a], StatusChange::Ignored { .. }), "{outcome:?}");

    let killed = alice.kill_jobs(&[a], "diracx-client test").await.unwrap();
    assert_eq!(killed.applied(), vec![a], "{killed:?}");
    // Twice in a row: the second stamp must still be later than the first record.
    let deleted = alice.delete_jobs(&[a, b], "diracx-client test").await.unwrap();
    assert_eq!(deleted.applied(), vec![a, b], "{deleted:?}");
    let after = alice.search_jobs(&by_name(&name), 1, 10).await.unwrap();
    let statuses: Vec<&str> = after.jobs.iter().map(|j| j["Status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["Deleted", "Deleted"]);

    // Forcing a status is for job administrators.
    let err = alice.set_job_status(&[b], &done, true).await.unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    // Another user's job: refused by DiracX.
    let err = alice.kill_jobs(&[8], "test").await.unwrap_err();
    assert!(err.is_forbidden(), "{err}");
}

#[tokio::test]
async fn reschedule_reports_per_job() {
    let kit = Kit::diracx();
    let admin = client(&kit, "DIRACX_ADMIN_TOKEN");
    let name = format!("client_resched_{}", std::process::id());
    let jdl = format!("[Executable = \"/bin/true\"; JobName = \"{name}\";]");
    let job = admin.submit_jdl(&[jdl]).await.unwrap()[0].job_id;
    let killed = admin.kill_jobs(&[job], "test").await.unwrap();
    assert_eq!(killed.applied(), vec![job]);
    let outcome = admin.reschedule_jobs(&[job], false).await.unwrap();
    assert!(outcome.success.contains_key(&job.to_string()), "{outcome:?}");
    let counter = admin
        .search_jobs(
            &JobSearch {
                parameters: Some(vec!["RescheduleCounter".into()]),
                search: vec![Condition::eq("JobID", job)],
                ..Default::default()
            },
            1,
            1,
        )
        .await
        .unwrap();
    assert_eq!(counter.jobs[0]["RescheduleCounter"], json!(1));
    // A job that does not exist: DiracX's 400 becomes a per-job failure.
    let outcome = admin.reschedule_jobs(&[987_654], false).await.unwrap();
    assert!(outcome.success.is_empty());
    assert!(outcome.failed.contains_key("987654"), "{outcome:?}");
}

#[tokio::test]
async fn sandboxes_upload_assign_list_and_download_real_content() {
    let kit = Kit::diracx();
    let alice = client(&kit, "DIRACX_USER_TOKEN");
    let name = format!("client_sandbox_{}", std::process::id());
    let job = alice
        .submit_jdl(&[format!("[Executable = \"/bin/true\"; JobName = \"{name}\";]")])
        .await
        .unwrap()[0]
        .job_id;
    assert_eq!(alice.job_sandboxes(job).await.unwrap(), Default::default());
    let content = bytes::Bytes::from(format!("not really bz2 but bytes of {name}").into_bytes());
    let pfn = alice.upload_sandbox(content.clone(), SandboxFormat::TarBz2).await.unwrap();
    assert!(pfn.starts_with("SB:"), "{pfn}");
    // The same content again: DiracX knows it by checksum and hands back the same PFN.
    assert_eq!(alice.upload_sandbox(content.clone(), SandboxFormat::TarBz2).await.unwrap(), pfn);
    alice.assign_output_sandbox(job, &pfn).await.unwrap();
    let listed = alice.job_sandboxes(job).await.unwrap();
    // Listed without the `SB:SandboxSE|` prefix the upload answered with; both forms download.
    assert_eq!(listed.output.len(), 1);
    assert!(pfn.ends_with(&listed.output[0]), "{pfn} vs {:?}", listed.output);
    let link = alice.sandbox_download(&listed.output[0]).await.unwrap();
    assert!(link.expires_in > 0);
    assert!(!format!("{link:?}").contains('?'), "Debug must not show the presigned query");
    let downloaded = reqwest::get(&link.url).await.unwrap().bytes().await.unwrap();
    assert_eq!(downloaded, content);
}

#[tokio::test]
async fn config_is_revalidated_by_etag() {
    let kit = Kit::diracx();
    let alice = client(&kit, "DIRACX_USER_TOKEN");
    let first = alice.config().await.unwrap();
    assert_eq!(first.vos(), vec!["testvo".to_owned()]);
    assert_eq!(first.default_group("testvo").as_deref(), Some("user"));
    let groups = first.groups("testvo");
    assert!(
        groups.iter().any(|(g, p)| g == "admin" && p.contains(&"JobAdministrator".to_owned())),
        "{groups:?}"
    );
    // A 304 hands back the cached document itself.
    let second = alice.config().await.unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    let me = alice.userinfo().await.unwrap();
    assert_eq!(me.preferred_username.as_deref(), Some("alice"));
    assert_eq!(me.properties, vec!["NormalUser".to_owned()]);
}

#[tokio::test]
async fn bad_tokens_and_absent_servers_are_typed_errors_without_the_token() {
    let kit = Kit::diracx();
    let token = "not-a-jwt-but-secret-looking";
    let bad = DiracxClient::new(
        kit.get("DIRACX_URL"),
        Arc::new(StaticToken::new(token.to_owned().into())),
        &ClientOptions::default(),
    )
    .unwrap();
    let err = bad.search_jobs(&JobSearch::default(), 1, 1).await.unwrap_err();
    assert!(err.is_authentication(), "{err}");
    assert!(!err.to_string().contains(token) && !format!("{err:?}").contains(token));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let options = ClientOptions { retries: 1, ..ClientOptions::default() };
    let gone = DiracxClient::new(
        &format!("http://127.0.0.1:{port}"),
        Arc::new(StaticToken::new(token.to_owned().into())),
        &options,
    )
    .unwrap();
    let err = gone.search_jobs(&JobSearch::default(), 1, 1).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }) && err.is_transient(), "{err}");
    assert!(!format!("{err:?}").contains(token));
}
