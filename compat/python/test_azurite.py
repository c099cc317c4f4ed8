"""Azurite (Microsoft's storage emulator, OAuth mode) takes the emulator's Azure Storage tokens.

azure-identity's ClientSecretCredential asks the emulator for `https://storage.azure.com/.default`
(the token the lake sink will use for ADLS/Blob); Azurite, started with `--oauth basic` over HTTPS,
checks its lifetime, issuer and audience. With the token a container and a blob are written and
read back; the environment's own token is refused (403), as a real storage account refuses it.

Arguments: the emulator's info file, then Azurite's blob endpoint (https://127.0.0.1:PORT) and the
CA file that endpoint's certificate is signed by.
"""

import json
import sys
import uuid

import requests
from azure.identity import ClientSecretCredential
from runner import run

info = json.load(open(sys.argv[1]))
blob = sys.argv[2].rstrip("/") + "/devstoreaccount1"
azurite_ca = sys.argv[3]


def credential():
    return ClientSecretCredential(info["tenant_id"], info["client_id"], info["client_secret"],
                                  authority=info["authority_host"], disable_instance_discovery=True)


def call(method, path, token, data=None):
    headers = {"Authorization": f"Bearer {token}", "x-ms-version": "2021-08-06"}
    if data is not None:
        headers["x-ms-blob-type"] = "BlockBlob"
    return requests.request(method, f"{blob}/{path}", headers=headers, data=data, verify=azurite_ca, timeout=30)


def storage_token_writes_and_reads_a_blob():
    token = credential().get_token("https://storage.azure.com/.default").token
    container = f"lake{uuid.uuid4().hex[:12]}"
    r = call("PUT", f"{container}?restype=container", token)
    assert r.status_code == 201, r.text
    r = call("PUT", f"{container}/accounts/part-0.json", token, data=b'{"name":"Contoso"}\n')
    assert r.status_code == 201, r.text
    r = call("GET", f"{container}/accounts/part-0.json", token)
    assert r.status_code == 200 and r.content == b'{"name":"Contoso"}\n', r.text


def dataverse_token_is_refused():
    token = credential().get_token(f"{info['environment_url']}/.default").token
    r = call("GET", "?comp=list", token)
    assert r.status_code == 403 and "AuthenticationFailed" in r.text, (r.status_code, r.text)


tests = [storage_token_writes_and_reads_a_blob, dataverse_token_is_refused]
run("azurite", tests)
