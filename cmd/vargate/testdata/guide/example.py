import os
import time
import httpx

client = httpx.Client(
    base_url="https://vargate.ai/api",
    headers={"X-API-Key": os.environ["VARGATE_API_KEY"]},
    timeout=30,
)

# 1. Create agent config
agent = client.post("/managed/agents", json={
    "name": "Research Assistant",
    "anthropic_model": "claude-sonnet-4-6",
    "allowed_tools": ["vargate_web_search", "vargate_send_email"],
    "require_human_approval": ["vargate_send_email"],
    "max_session_hours": 2.0,
    "max_daily_sessions": 10,
}).json()
print(f"Agent: {agent['id']}")

# 2. Create governed session
session = client.post("/managed/sessions", json={
    "agent_id": agent["id"],
    "user_message": "Find the top 3 AI governance frameworks and email a summary to [email protected]",
}).json()
print(f"Session: {session['session_id']}")

# 3. Poll session status
while True:
    status = client.get(f"/managed/sessions/{session['session_id']}/status").json()
    print(f"  Status: {status['status']} | Governed: {status['total_governed_calls']} | Observed: {status['total_observed_calls']}")
    if status["status"] != "active":
        break
    time.sleep(5)

# 4. Download compliance export
compliance = client.get(f"/managed/sessions/{session['session_id']}/compliance").json()
print(f"Compliance: {compliance['summary']['total_events']} events, {compliance['summary']['denial_rate']} denial rate")
