// @azure/msal-node against the d365 emulator, over HTTPS (NODE_EXTRA_CA_CERTS trusts its CA).
const fs = require("fs");
const msal = require("@azure/msal-node");

const info = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const authority = `${info.authority_host}/${info.tenant_id}`;
// msal-node only talks to hosts it knows: host:port of the emulator.
const knownAuthorities = [new URL(info.authority_host).host];
const scopes = [`${info.environment_url}/.default`];

async function whoAmI(token) {
  const r = await fetch(`${info.environment_url}/api/data/v9.2/WhoAmI`, { headers: { Authorization: `Bearer ${token}`, Accept: "application/json" } });
  if (r.status !== 200) throw new Error(`WhoAmI: ${r.status} ${await r.text()}`);
  return r.json();
}

// Token endpoint requests the emulator has served (its control API, loopback only).
async function tokenRequests() {
  const r = await fetch(`${info.authority_host}/_emulator/stats`);
  if (r.status !== 200) throw new Error(`stats: ${r.status} ${await r.text()}`);
  return (await r.json()).token_requests;
}

// A silent call for `{env}/.default` after a user sign-in is answered from msal-node's cache:
// no request reaches the token endpoint (issue 14, item 1).
async function assertServedFromCache(app, signedIn) {
  const before = await tokenRequests();
  const r = await app.acquireTokenSilent({ account: signedIn.account, scopes });
  if (r.fromCache !== true) throw new Error(`silent call not from the cache (fromCache ${r.fromCache})`);
  if (r.accessToken !== signedIn.accessToken) throw new Error("silent call returned another token");
  const after = await tokenRequests();
  if (after !== before) throw new Error(`the silent call reached the token endpoint (${after - before} requests)`);
}

const publicApp = () => new msal.PublicClientApplication({ auth: { clientId: info.public_client_id, authority, knownAuthorities } });

const tests = {
  async clientCredentials() {
    const app = new msal.ConfidentialClientApplication({ auth: { clientId: info.client_id, clientSecret: info.client_secret, authority, knownAuthorities } });
    const r = await app.acquireTokenByClientCredential({ scopes });
    await whoAmI(r.accessToken);
  },
  async usernamePassword() {
    const app = publicApp();
    const r = await app.acquireTokenByUsernamePassword({ scopes, username: info.username, password: info.password });
    if (r.account.username !== info.username) throw new Error(`account ${r.account.username}`);
    await whoAmI(r.accessToken);
    await assertServedFromCache(app, r);
  },
  async wrongPassword() {
    try {
      await publicApp().acquireTokenByUsernamePassword({ scopes, username: info.username, password: "wrong" });
    } catch (e) {
      if (e.errorCode !== "invalid_grant") throw new Error(`errorCode ${e.errorCode}`);
      return;
    }
    throw new Error("a wrong password was accepted");
  },
  async deviceCode() {
    const app = publicApp();
    const r = await app.acquireTokenByDeviceCode({
      scopes,
      deviceCodeCallback: (response) => {
        setTimeout(() => fetch(`${info.authority_host}/_emulator/devicecode/${response.userCode}/approve?upn=${encodeURIComponent(info.username)}`, { method: "POST" }), 1500);
      },
    });
    await whoAmI(r.accessToken);
    await assertServedFromCache(app, r);
  },
};

(async () => {
  let passed = 0, failed = 0;
  for (const [name, test] of Object.entries(tests)) {
    try {
      await test();
      passed++;
      console.log(`ok      node ${name}`);
    } catch (e) {
      failed++;
      console.log(`FAILED  node ${name}\n${e.stack || e}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
