"""PyJWT side of the interoperability test of stird's PASSporTs.

verify CHAIN: reads Identity header values from standard input, one per line,
    verifies each JWS with PyJWT and the first certificate of CHAIN, and prints
    one JSON object per line with the decoded header and claims. Exits 1 if any
    fails.
sign KEY X5U: prints JSON lines, each an Identity header value signed by PyJWT
    with KEY, with the numbers and time to verify it at and the expected outcome.
"""

import json
import sys

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

ORIG = "12025550100"
DEST = "12025550199"
IAT = 1796396400
ORIGID = "8d7c1b5e-2f3a-4c6d-9e0f-1a2b3c4d5e6f"


def verify(chain_path):
    with open(chain_path, "rb") as chain_file:
        certificate = x509.load_pem_x509_certificates(chain_file.read())[0]
    public_key = certificate.public_key()
    failed = 0
    for line in sys.stdin:
        value = line.strip()
        if not value:
            continue
        token, _, parameters = value.partition(";")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                public_key,
                algorithms=["ES256"],
                options={"verify_exp": False, "verify_iat": False, "verify_aud": False},
            )
            print(json.dumps({"ok": True, "header": header, "claims": claims, "parameters": parameters}))
        except Exception as error:  # report every failure, keep checking the rest
            failed += 1
            print(json.dumps({"ok": False, "error": repr(error), "value": value}))
    return 1 if failed else 0


def sign(key_path, x5u):
    with open(key_path, "rb") as key_file:
        key = load_pem_private_key(key_file.read(), password=None)
    parameters = f";info=<{x5u}>;alg=ES256;ppt=shaken"

    def emit(case, header, payload_bytes, expect, code=None):
        token = jwt.api_jws.PyJWS().encode(
            payload_bytes, key, algorithm="ES256", headers=header, sort_headers=False
        )
        print(json.dumps({
            "case": case,
            "identity": token + parameters,
            "orig": ORIG,
            "dest": DEST,
            "at": IAT + 5,
            "expect": expect,
            "code": code,
        }))

    header = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": x5u}
    claims = {"attest": "A", "dest": {"tn": [DEST]}, "iat": IAT, "orig": {"tn": ORIG}, "origid": ORIGID}

    canonical = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    emit("canonical", header, canonical, "valid")

    spaced = json.dumps(claims, indent=2, sort_keys=True).encode()
    emit("whitespace and line breaks", header, spaced, "valid")

    reordered = {key: claims[key] for key in ["origid", "orig", "iat", "dest", "attest"]}
    emit("reverse key order", dict(reversed(list(header.items()))), json.dumps(reordered).encode(), "valid")

    with_unknown = dict(claims, iss="someone")
    emit("unknown claim", header, json.dumps(with_unknown).encode(), "valid")

    iat_string = dict(claims, iat=str(IAT))
    emit("iat as a string", header, json.dumps(iat_string).encode(), "invalid", 438)

    attest_b = dict(claims, attest="B")
    emit("attest B", header, json.dumps(attest_b).encode(), "valid")

    dest_string = dict(claims, dest={"tn": DEST})
    emit("dest tn not an array", header, json.dumps(dest_string).encode(), "invalid", 438)
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "verify":
        return verify(sys.argv[2])
    if len(sys.argv) == 4 and sys.argv[1] == "sign":
        return sign(sys.argv[2], sys.argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
