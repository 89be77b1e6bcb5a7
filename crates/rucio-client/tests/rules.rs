//! The rule life cycle on the real server: add, update, move, reduce, approve, deny, delete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rucio_client::{Did, NewRule, RucioClient, RucioErrorKind, RuleUpdate};
use test_kit::Kit;

fn rule_for(did: &str, copies: u32, rse_expression: &str) -> NewRule {
    let mut rule = NewRule::new(vec![Did::parse(did).unwrap().key()], copies, rse_expression);
    rule.account = Some("root".into());
    rule
}

async fn add_one(client: &RucioClient, rule: &NewRule) -> String {
    let ids = client.add_rule(rule).await.unwrap();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids.into_iter().next().unwrap()
}

/// A deleted rule is given one hour to live (Rucio's soft delete); the cleaner daemon removes it.
async fn assert_deleted(client: &RucioClient, rule_id: &str) {
    let rule = client.get_rule(rule_id).await.unwrap();
    let expires = rule.expires_at.expect("a deleted rule expires").as_utc();
    assert!(expires <= chrono::Utc::now() + chrono::Duration::minutes(61), "{rule:?}");
}

async fn assert_gone(client: &RucioClient, rule_id: &str) {
    let e = client.get_rule(rule_id).await.unwrap_err();
    assert_eq!(e.kind(), Some(&RucioErrorKind::RuleNotFound), "{e}");
}

#[tokio::test]
async fn add_update_move_delete() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let client = kit.root(dir.path());

    let file = kit.new_file("rule-life", &["MOCK-POSIX"]);
    let mut new = rule_for(&file, 1, "MOCK-POSIX2");
    new.lifetime = Some(3600);
    new.comment = Some("created by the rucio-client tests".into());
    let id = add_one(&client, &new).await;
    let rule = client.get_rule(&id).await.unwrap();
    assert_eq!(
        (rule.rse_expression.as_str(), rule.copies, rule.state.as_str()),
        ("MOCK-POSIX2", 1, "REPLICATING")
    );
    assert_eq!(rule.comments.as_deref(), Some("created by the rucio-client tests"));
    let first_expiry = rule.expires_at.unwrap();

    let update = RuleUpdate {
        lifetime: Some(Some(7200)),
        locked: Some(true),
        comment: Some("updated".into()),
        ..Default::default()
    };
    client.update_rule(&id, &update).await.unwrap();
    let rule = client.get_rule(&id).await.unwrap();
    assert_eq!((rule.locked, rule.comments.as_deref()), (Some(true), Some("updated")));
    assert!(rule.expires_at.unwrap() > first_expiry);
    let e = client.update_rule(&id, &RuleUpdate::default()).await.unwrap_err();
    assert!(e.to_string().contains("at least one change"), "{e}");

    client
        .update_rule(&id, &RuleUpdate { locked: Some(false), ..Default::default() })
        .await
        .unwrap();
    let child = client.move_rule(&id, "MOCK-POSIX", &serde_json::Map::new()).await.unwrap();
    assert_ne!(child, id);
    let moved = client.get_rule(&child).await.unwrap();
    assert_eq!(
        (moved.rse_expression.as_str(), moved.scope.as_str(), moved.name.as_str()),
        ("MOCK-POSIX", "test", &file["test:".len()..])
    );
    // The source rule is set to expire now; the judge daemon removes it once the child is OK.
    let source = client.get_rule(&id).await.unwrap();
    // (Its lifetime was two hours before the move.)
    let expires = source.expires_at.unwrap().as_utc();
    assert!(expires <= chrono::Utc::now() + chrono::Duration::minutes(1), "{source:?}");

    for rule_id in [&child, &id] {
        client.delete_rule(rule_id, false).await.unwrap();
    }
    assert_deleted(&client, &child).await;
    assert_deleted(&client, &id).await;
}

#[tokio::test]
async fn reduce_copies() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let client = kit.root(dir.path());
    // On both RSEs already, so a two-copy rule is OK at once (only OK rules can be reduced).
    let file = kit.new_file("rule-reduce", &["MOCK-POSIX", "MOCK-POSIX2"]);
    let id = add_one(&client, &rule_for(&file, 2, "MOCK-POSIX|MOCK-POSIX2")).await;
    let new_ids = client.reduce_rule(&id, 1, Some("MOCK-POSIX2")).await.unwrap();
    assert_eq!(new_ids.len(), 1);
    let new_rule = client.get_rule(&new_ids[0]).await.unwrap();
    assert_eq!(new_rule.copies, 1);
    assert_gone(&client, &id).await;
    client.delete_rule(&new_ids[0], false).await.unwrap();
    assert_deleted(&client, &new_ids[0]).await;
}

#[tokio::test]
async fn approve_and_deny() {
    let kit = Kit::load();
    let dir = tempfile::tempdir().unwrap();
    let client = kit.root(dir.path());
    let mut ask = rule_for(&kit.new_file("rule-approve", &["MOCK-POSIX"]), 1, "MOCK-POSIX2");
    ask.ask_approval = true;
    let id = add_one(&client, &ask).await;
    assert_eq!(client.get_rule(&id).await.unwrap().state, "WAITING_APPROVAL");
    client.approve_rule(&id).await.unwrap();
    assert_ne!(client.get_rule(&id).await.unwrap().state, "WAITING_APPROVAL");
    client.delete_rule(&id, false).await.unwrap();

    let mut ask = rule_for(&kit.new_file("rule-deny", &["MOCK-POSIX"]), 1, "MOCK-POSIX2");
    ask.ask_approval = true;
    let id = add_one(&client, &ask).await;
    client.deny_rule(&id, Some("not needed")).await.unwrap();
    // Denying removes the rule.
    assert_gone(&client, &id).await;
}
