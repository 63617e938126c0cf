// Checks Ethereum outputs with ethers (the pinned 6.17.0): an independent implementation of
// EIP-191, EIP-712, RLP and transaction signing, so a case passes only when a real wallet
// library agrees with ours.
//
// Usage: node tests/node/verify-eth.mjs < cases.json
// stdin: a JSON array of cases, each one of
//   {"kind": "personal_sign", "message_hex", "signature", "address"}
//       ethers.verifyMessage(bytes, signature) must recover address.
//   {"kind": "typed_data", "typed_data": {types, primaryType, domain, message}, "signature",
//    "address", "digest"?}
//       ethers' TypedDataEncoder (types without EIP712Domain; the domain type is derived from
//       the domain's fields, primaryType must be the document's) must give the digest (when
//       given) and the signature must recover address.
//   {"kind": "tx", "raw", "hash", "from", "unsigned_hash"?, "expect": {type, chainId, nonce, to,
//    value, gasLimit, maxFeePerGas?, maxPriorityFeePerGas?, gasPrice?, data}}
//       ethers.Transaction.from(raw) must parse it, re-serialise it to the same bytes, recover
//       from, compute the same hash (and unsigned hash), and match every expected field
//       (integers as numbers or decimal strings, to as an address or null, data as 0x-hex).
// stdout: a JSON array of {"ok": bool, "why"?: string}, one per case, in order.
// Exit status 0 when the input could be read (whatever the verdicts), 2 otherwise.
import { readFileSync } from "node:fs";
import {
  Transaction, TypedDataEncoder, getBytes, hexlify, keccak256, recoverAddress, verifyMessage,
} from "ethers";

const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();

function checkPersonal(c) {
  const got = verifyMessage(getBytes(c.message_hex), c.signature);
  if (got !== c.address) throw new Error(`recovered ${got}, expected ${c.address}`);
}

function checkTyped(c) {
  const td = c.typed_data;
  const types = { ...td.types };
  delete types.EIP712Domain;
  const enc = TypedDataEncoder.from(types);
  if (enc.primaryType !== td.primaryType)
    throw new Error(`ethers sees primary type ${enc.primaryType}, not ${td.primaryType}`);
  const digest = TypedDataEncoder.hash(td.domain, types, td.message);
  if (c.digest !== undefined && !same(digest, c.digest))
    throw new Error(`digest ${digest}, expected ${c.digest}`);
  const got = recoverAddress(digest, c.signature);
  if (got !== c.address) throw new Error(`recovered ${got}, expected ${c.address}`);
}

const INT_FIELDS = ["type", "chainId", "nonce", "value", "gasLimit", "maxFeePerGas",
  "maxPriorityFeePerGas", "gasPrice"];

function checkTx(c) {
  const tx = Transaction.from(c.raw);
  if (tx.serialized !== c.raw.toLowerCase()) throw new Error("re-serialised bytes differ");
  if (tx.from !== c.from) throw new Error(`sender ${tx.from}, expected ${c.from}`);
  if (recoverAddress(tx.unsignedHash, tx.signature) !== c.from) throw new Error("recovery differs");
  if (!same(tx.hash, c.hash) || !same(keccak256(c.raw), c.hash))
    throw new Error(`hash ${tx.hash}, expected ${c.hash}`);
  if (c.unsigned_hash !== undefined && !same(tx.unsignedHash, c.unsigned_hash))
    throw new Error(`unsigned hash ${tx.unsignedHash}, expected ${c.unsigned_hash}`);
  const e = c.expect || {};
  for (const k of INT_FIELDS) {
    if (e[k] === undefined) continue;
    if (tx[k] === null || BigInt(tx[k]) !== BigInt(e[k]))
      throw new Error(`${k} is ${tx[k]}, expected ${e[k]}`);
  }
  if ("to" in e && !(e.to === null ? tx.to === null : tx.to !== null && same(tx.to, e.to)))
    throw new Error(`to is ${tx.to}, expected ${e.to}`);
  if ("data" in e && !same(tx.data, hexlify(getBytes(e.data))))
    throw new Error(`data is ${tx.data}, expected ${e.data}`);
}

const checks = { personal_sign: checkPersonal, typed_data: checkTyped, tx: checkTx };

let cases;
try {
  cases = JSON.parse(readFileSync(0, "utf8"));
  if (!Array.isArray(cases)) throw new Error("expected a JSON array");
} catch (err) {
  process.stderr.write(`verify-eth: ${err.message}\n`);
  process.exit(2);
}
const out = cases.map((c) => {
  try {
    const check = checks[c && c.kind];
    if (!check) throw new Error(`unknown kind ${c && c.kind}`);
    check(c);
    return { ok: true };
  } catch (err) {
    return { ok: false, why: String(err.shortMessage || err.message || err) };
  }
});
process.stdout.write(JSON.stringify(out) + "\n");
