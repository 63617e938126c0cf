// Checks Solana outputs with @solana/web3.js (the pinned 2.0.0): it deserialises the wire
// transaction, verifies the Ed25519 signature over the message bytes with WebCrypto, and
// decompiles the message to check that it is exactly one System Program transfer.
//
// Usage: node tests/node/verify-sol.mjs < cases.json
// stdin: a JSON array of cases, each one of
//   {"kind": "sol_transfer", "tx_base58" | "tx_base64", "from", "to", "lamports", "blockhash"}
//       a legacy transaction signed by from (the only signer and fee payer) whose one
//       instruction is System Program Transfer(lamports) from -> to, with that recent blockhash.
//   {"kind": "sol_sign", "message_hex", "signature" (hex or base58), "address"}
//       an Ed25519 signature of the message bytes by address.
// stdout: a JSON array of {"ok": bool, "why"?: string}, one per case, in order.
// Exit status 0 when the input could be read (whatever the verdicts), 2 otherwise.
import { readFileSync } from "node:fs";
import {
  decompileTransactionMessage, getAddressEncoder, getBase58Encoder, getBase64Encoder,
  getCompiledTransactionMessageDecoder, getTransactionDecoder, verifySignature,
} from "@solana/web3.js";

const SYSTEM_PROGRAM = "11111111111111111111111111111111";
const TRANSFER = 2;

async function publicKey(addr) {
  const raw = getAddressEncoder().encode(addr);
  return crypto.subtle.importKey("raw", raw, "Ed25519", true, ["verify"]);
}

function transferData(lamports) {
  const d = new Uint8Array(12);
  const v = new DataView(d.buffer);
  v.setUint32(0, TRANSFER, true);
  v.setBigUint64(4, BigInt(lamports), true);
  return d;
}

const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

async function checkTransfer(c) {
  const bytes = c.tx_base58 !== undefined ? getBase58Encoder().encode(c.tx_base58)
    : getBase64Encoder().encode(c.tx_base64);
  const tx = getTransactionDecoder().decode(bytes);
  const signers = Object.keys(tx.signatures);
  if (signers.length !== 1 || signers[0] !== c.from)
    throw new Error(`signers ${signers.join(",")}, expected ${c.from}`);
  const sig = tx.signatures[c.from];
  if (!sig || !(await verifySignature(await publicKey(c.from), sig, tx.messageBytes)))
    throw new Error("signature does not verify over the message bytes");
  const compiled = getCompiledTransactionMessageDecoder().decode(tx.messageBytes);
  if (compiled.version !== "legacy") throw new Error(`version ${compiled.version}`);
  const msg = decompileTransactionMessage(compiled);
  if (msg.feePayer.address !== c.from) throw new Error(`fee payer ${msg.feePayer.address}`);
  if (msg.lifetimeConstraint.blockhash !== c.blockhash)
    throw new Error(`blockhash ${msg.lifetimeConstraint.blockhash}, expected ${c.blockhash}`);
  if (msg.instructions.length !== 1) throw new Error(`${msg.instructions.length} instructions`);
  const ix = msg.instructions[0];
  if (ix.programAddress !== SYSTEM_PROGRAM) throw new Error(`program ${ix.programAddress}`);
  const accts = (ix.accounts || []).map((a) => a.address);
  if (accts.length !== 2 || accts[0] !== c.from || accts[1] !== c.to)
    throw new Error(`accounts ${accts.join(",")}, expected ${c.from},${c.to}`);
  if (!equalBytes(ix.data, transferData(c.lamports)))
    throw new Error("instruction data is not Transfer(lamports)");
}

async function checkSign(c) {
  const hex = c.message_hex.replace(/^0x/, "");
  const msg = Uint8Array.from(hex.match(/../g) || [], (h) => parseInt(h, 16));
  const sig = /^(0x)?[0-9a-fA-F]{128}$/.test(c.signature)
    ? Uint8Array.from(c.signature.replace(/^0x/, "").match(/../g), (h) => parseInt(h, 16))
    : getBase58Encoder().encode(c.signature);
  if (!(await verifySignature(await publicKey(c.address), sig, msg)))
    throw new Error("signature does not verify");
}

const checks = { sol_transfer: checkTransfer, sol_sign: checkSign };

let cases;
try {
  cases = JSON.parse(readFileSync(0, "utf8"));
  if (!Array.isArray(cases)) throw new Error("expected a JSON array");
} catch (err) {
  process.stderr.write(`verify-sol: ${err.message}\n`);
  process.exit(2);
}
const out = [];
for (const c of cases) {
  try {
    const check = checks[c && c.kind];
    if (!check) throw new Error(`unknown kind ${c && c.kind}`);
    await check(c);
    out.push({ ok: true });
  } catch (err) {
    out.push({ ok: false, why: String(err.message || err) });
  }
}
process.stdout.write(JSON.stringify(out) + "\n");
