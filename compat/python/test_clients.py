"""MSAL for Python and azure-identity against the d365 emulator, over HTTPS.

Each test is a function; the runner prints one line per test and `N passed, M failed`.
"""
import json
import sys
import threading
import time

import msal
import requests
from azure.identity import CertificateCredential, ClientSecretCredential, UsernamePasswordCredential
from runner import run

info = json.load(open(sys.argv[1]))
cert_path = sys.argv[2]
authority = f"{info['authority_host']}/{info['tenant_id']}"
env = info["environment_url"]
scopes = [f"{env}/.default"]


def who_am_i(token):
    r = requests.get(f"{env}/api/data/v9.2/WhoAmI", headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()


def token_requests():
    """Token endpoint requests the emulator has served (its control API, loopback only)."""
    r = requests.get(f"{info['authority_host']}/_emulator/stats")
    assert r.status_code == 200, r.text
    return r.json()["token_requests"]


def assert_served_from_cache(app, account):
    """A silent call for `{env}/.default` after a user sign-in is answered from MSAL's cache:
    no request reaches the token endpoint (issue 14, item 1)."""
    before = token_requests()
    r = app.acquire_token_silent(scopes, account=account)
    assert r and "access_token" in r, r
    assert r.get("token_source") == "cache", r.get("token_source")
    assert token_requests() == before, "the silent call reached the token endpoint"
    return r


def msal_client_credentials():
    app = msal.ConfidentialClientApplication(info["client_id"], client_credential=info["client_secret"], authority=authority, instance_discovery=False)
    r = app.acquire_token_for_client(scopes=scopes)
    assert "access_token" in r, r
    assert who_am_i(r["access_token"])["UserId"]
    again = app.acquire_token_for_client(scopes=scopes)
    assert again.get("token_source") == "cache", again.get("token_source")


def public_app():
    return msal.PublicClientApplication(info["public_client_id"], authority=authority, instance_discovery=False)


def msal_password_and_refresh():
    # Asks https://127.0.0.1/common/userrealm/... on port 443 first.
    app = public_app()
    r = app.acquire_token_by_username_password(info["username"], info["password"], scopes=scopes)
    assert "access_token" in r, r
    assert r.get("id_token_claims", {}).get("preferred_username") == info["username"], r.get("id_token_claims")
    accounts = app.get_accounts()
    assert len(accounts) == 1 and accounts[0]["username"] == info["username"], accounts
    cached = assert_served_from_cache(app, accounts[0])
    assert cached["access_token"] == r["access_token"]
    refreshed = app.acquire_token_silent(scopes, account=accounts[0], force_refresh=True)
    assert refreshed and "access_token" in refreshed, refreshed
    assert refreshed["access_token"] != r["access_token"]
    who_am_i(refreshed["access_token"])


def msal_wrong_password():
    r = public_app().acquire_token_by_username_password(info["username"], "wrong", scopes=scopes)
    assert r.get("error") == "invalid_grant" and 50126 in r.get("error_codes", []), r


def msal_device_code():
    app = public_app()
    flow = app.initiate_device_flow(scopes=scopes)
    assert "user_code" in flow, flow

    def approve():
        time.sleep(1.5)
        requests.post(f"{info['authority_host']}/_emulator/devicecode/{flow['user_code']}/approve", params={"upn": info["username"]})

    threading.Thread(target=approve).start()
    r = app.acquire_token_by_device_flow(flow)
    assert "access_token" in r, r
    who_am_i(r["access_token"])
    assert_served_from_cache(app, app.get_accounts()[0])


def azure_identity_client_secret():
    cred = ClientSecretCredential(info["tenant_id"], info["client_id"], info["client_secret"], authority=info["authority_host"], disable_instance_discovery=True)
    who_am_i(cred.get_token(*scopes).token)


def azure_identity_certificate():
    cred = CertificateCredential(info["tenant_id"], info["client_id"], certificate_path=cert_path, authority=info["authority_host"], disable_instance_discovery=True)
    who_am_i(cred.get_token(*scopes).token)


def azure_identity_username_password():
    # The second get_token is served by the credential's MSAL cache, without a request.
    cred = UsernamePasswordCredential(info["public_client_id"], info["username"], info["password"],
                                      tenant_id=info["tenant_id"], authority=info["authority_host"],
                                      disable_instance_discovery=True)
    first = cred.get_token(*scopes)
    who_am_i(first.token)
    before = token_requests()
    second = cred.get_token(*scopes)
    assert second.token == first.token, "the second get_token returned another token (not from the cache)"
    assert token_requests() == before, "the second get_token reached the token endpoint"


def azure_identity_wrong_secret():
    from azure.core.exceptions import ClientAuthenticationError
    cred = ClientSecretCredential(info["tenant_id"], info["client_id"], "wrong", authority=info["authority_host"], disable_instance_discovery=True)
    try:
        cred.get_token(*scopes)
    except ClientAuthenticationError as e:
        assert "AADSTS7000215" in str(e), e
    else:
        raise AssertionError("a wrong secret was accepted")


tests = [msal_client_credentials, msal_password_and_refresh, msal_wrong_password, msal_device_code,
         azure_identity_client_secret, azure_identity_certificate, azure_identity_username_password,
         azure_identity_wrong_secret]
run("python", tests)
