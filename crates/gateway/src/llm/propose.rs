//! A tool call the model proposes, through the decision pipeline before the
//! agent sees it: guardrails on its arguments, policy, approval hold.
//!
//! Warden's own MCP tools, which the agent's client names `<server>__<tool>`,
//! are recognised and judged by that tool's annotations and rules. Their
//! decision belongs to `/mcp`, where they run: here a denied one is removed,
//! any other passes at once (no hold, no rate-limit token), and `/mcp` holds
//! it if its rule wants a human. Every other call is decided here, and the
//! ledger remembers how, so the agent's pre-tool hook asking about the same
//! call id gets the same answer without a second hold.

use std::time::Duration;

use serde_json::Value;

use crate::llm::call::Call;
use crate::pipeline::govern::{self, Action, Entry, Gate, Refusal, Waited};

/// One tool call the model proposed, through the decision pipeline (stages
/// 3-5: guardrails on its arguments, policy, approval hold). `call_id` is the
/// model's id for it (`tool_calls[].id`, `call_id`). Ok: the (possibly
/// redacted) arguments to pass on; the decision's record waits in
/// `call.pending` until `Call::commit_pending` (or `Call::finish`) makes the
/// answer's records durable together, which the caller does before the agent
/// sees the call. Err: the refusal the agent reads.
pub(crate) async fn propose(call: &mut Call, name: &str, args: &str, call_id: &str) -> Result<String, String> {
    let gw = call.gw.clone();
    let tool = warden_core::names::nfc(name.trim());
    if tool.is_empty() || tool.len() > 256 {
        return Err("Warden removed a proposed tool call with no valid name.".into());
    }
    let parsed: Value = match serde_json::from_str(if args.trim().is_empty() { "{}" } else { args }) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) | Err(_) => {
            tracing::warn!(agent = %call.who.agent.name, tool = %tool, "model proposed a call with invalid JSON arguments");
            return Err(format!(
                "Warden refused the call to `{tool}`: the model's arguments are not a valid JSON object, so it was not run."
            ));
        }
    };
    let mut args = parsed;
    gw.guard.screen_arguments(&mut args, &format!("tool call {tool}"), &mut call.report);
    if call.report.blocked().is_some() {
        return Err(format!("Warden refused the call to `{tool}`: its arguments were blocked by a guardrail."));
    }
    let own = gw.own_mcp_tool(&call.who.agent, &tool);
    let (exposed, annotations) = match &own {
        Some((e, a)) => (e.clone(), a.clone()),
        None => (tool.clone(), Value::Null),
    };
    let action = Action {
        entry: Entry::Llm,
        agent: call.who.agent.clone(),
        session_id: None,
        tool: exposed,
        annotations,
        args: args.clone(),
        flags: Default::default(),
        trace: call.trace.clone(),
        call_id: call_id.to_string(),
        requester: String::new(),
    };
    let text = |a: &Value| serde_json::to_string(a).unwrap_or_else(|_| "{}".into());
    let refused = |r: &Refusal| format!("Warden refused the call to `{tool}`: {}", r.message);
    if own.is_some() {
        return match govern::defer_to_mcp(&gw, &action).await {
            Ok((_, rec)) => {
                call.pending.push(rec);
                gw.ledger.expect_at_mcp(&action.agent.name, &action.tool, &action.args_digest(), call_id);
                Ok(text(&args))
            }
            Err(r) => Err(refused(&r)),
        };
    }
    let settle = |verdict: &str, d: &warden_policy::Decision, approval: &str| {
        gw.ledger.settle_action(&action, verdict, &d.rule, d.tier.as_str(), &d.reason, approval)
    };
    match govern::check(&gw, &action).await {
        Gate::Proceed(d) => {
            // Committed with the answer's other records, before the agent sees the call.
            call.pending.push(govern::record(&action, &d, d.action.as_str()));
            settle(d.action.as_str(), &d, "");
            Ok(text(&args))
        }
        Gate::Refuse(r) => Err(refused(&r)),
        Gate::Hold(mut held) => {
            let wait = gw.proposed_call_wait;
            match held.wait(Some(wait), Duration::from_secs(3600), |_| {}).await {
                Waited::Approved => {
                    if let Err(r) = held.recheck(&action).await {
                        held.finish("refused: the policy changed while the call was held").await;
                        return Err(refused(&r));
                    }
                    if let Err(e) = govern::commit(&gw, held.record("allow"), None).await {
                        held.finish("refused: the audit trail could not record it").await;
                        return Err(refused(&govern::audit_unavailable(&e)));
                    }
                    held.finish("passed to the agent in the model's answer").await;
                    let mut d = held.decision.clone();
                    d.reason = format!("approved by {} (approval {})", held.approver, held.approval.id);
                    settle("allow", &d, &held.approval.id);
                    Ok(text(&args))
                }
                Waited::Refused(r) => Err(refused(&r)),
                Waited::StillPending => {
                    let id = held.approval.id.clone();
                    held.finish("refused: no decision within the model answer's wait").await;
                    drop(held);
                    Err(format!(
                        "Warden held the call to `{tool}` for human approval ({id}) and no one decided within {} s, so it was not passed on \
                         and the approval was withdrawn.",
                        wait.as_secs()
                    ))
                }
            }
        }
    }
}
