/* Tools 14-20: wallets (keyd), and keyd's own after osModa's 92 (typed data, rotation, import,
 * export, the vault). Keys never leave keyd without a person's approval; the tools ask it to
 * sign. */
#include "tools/tools-table.h"

// clang-format off
/* The chains keyd supports. */
#define CHAIN_PROP J("chain":{"type":"string","enum":["ethereum","solana"],"description":"Chain."})
#define WALLET_ID_PROP J("wallet_id":{"type":"string","minLength":1,"description":"Wallet id."})

const struct osm_tool osm_tools_wallet[] = {
    {.name = "wallet_create",
     .description = "Create a wallet (a new key pair held by keyd) and return its address.",
     .input_schema = J({"type":"object","properties":{) CHAIN_PROP J(,
        "label":{"type":"string","minLength":1,"maxLength":128,
                 "description":"A name for the wallet (keyd requires one)."}},
        "required":["chain","label"],"additionalProperties":false}),
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "keyd", .method = "POST", .path = "/wallet/create"},
    {.name = "wallet_list",
     .description = "List the wallets: id, label, chain, address.",
     .input_schema = PAGE_ONLY,
     .cls = OSM_CLASS_READ, .daemon = "keyd", .method = "GET", .path = "/wallet/list",
     .flags = OSM_TOOL_LIST},
    {.name = "wallet_sign",
     .description = "Sign a payload with a wallet's key, within keyd's policy and quotas.",
     .input_schema = J({"type":"object","properties":{) WALLET_ID_PROP J(,
        "payload":{"type":"string","minLength":2,"description":"Bytes to sign, hex."},
        "raw":{"type":"boolean","description":"Sign the bytes as they are (a 32-byte digest on Ethereum; every Solana payload is raw): needs the policy's sign_raw and a person's approval."}},
        "required":["wallet_id","payload"],"additionalProperties":false}),
     .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "keyd", .method = "POST", .path = "/wallet/sign"},
    {.name = "wallet_send",
     .description = "Sign a transfer of amount to an address, within keyd's policy.",
     .input_schema = J({"type":"object","properties":{) WALLET_ID_PROP J(,
        "to":{"type":"string","minLength":1,"description":"Destination address."},
        "amount":{"type":"string","minLength":1,"description":"Decimal amount, e.g. \"0.05\"."},
        "chain_params":{"type":"object","description":"Ethereum: chain_id, nonce, gas_limit, max_fee_per_gas, max_priority_fee_per_gas (or gas_price), data; Solana: recent_blockhash."}},
        "required":["wallet_id","to","amount"],"additionalProperties":false}),
     .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "keyd", .method = "POST", .path = "/wallet/send"},
    {.name = "wallet_delete",
     .description = "Delete a wallet and its key. Funds left on it become unreachable.",
     .input_schema = J({"type":"object","properties":{) WALLET_ID_PROP J(},
        "required":["wallet_id"],"additionalProperties":false}),
     .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "keyd", .method = "POST", .path = "/wallet/delete",
     .flags = OSM_TOOL_IDEMPOTENT},
    {.name = "wallet_receipt",
     .description = "Receipts of wallet operations (create, sign, send, ...), newest first.",
     .input_schema = J({"type":"object","properties":{
        "wallet_id":{"type":"string","minLength":1,"description":"Only this wallet's receipts."},)
        PAGE_PROPS J(},"additionalProperties":false}),
     .cls = OSM_CLASS_READ, .daemon = "keyd", .method = "GET", .path = "/wallet/receipt",
     .flags = OSM_TOOL_LIST},
    {.name = "wallet_build_tx",
     .description = "Build and sign a chain transaction from a wallet, within keyd's policy.",
     .input_schema = J({"type":"object","properties":{) WALLET_ID_PROP J(,) CHAIN_PROP J(,
        "tx_type":{"type":"string","minLength":1,"description":"Transaction kind, e.g. transfer."},
        "to":{"type":"string","minLength":1,"description":"Destination address."},
        "amount":{"type":"string","minLength":1,
                  "description":"Decimal amount in the chain's main unit, e.g. \"0.05\"."},
        "chain_params":{"type":"object","description":"Chain specifics: nonce, gas, ..."}},
        "required":["wallet_id","chain","tx_type","to","amount"],"additionalProperties":false}),
     .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "keyd", .method = "POST", .path = "/wallet/build_tx"},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(wallet);

// clang-format off
const struct osm_tool osm_tools_keyd[] = {
    {.name = "wallet_sign_typed_data",
     .description = "Sign EIP-712 typed data (eth_signTypedData_v4) with an Ethereum wallet.",
     .input_schema = J({"type":"object","properties":{) WALLET_ID_PROP J(,
        "typed_data":{"type":["object","string"],
                      "description":"The EIP-712 document {types, primaryType, domain, message}."}},
        "required":["wallet_id","typed_data"],"additionalProperties":false}),
     .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "keyd", .method = "POST",
     .path = "/wallet/sign_typed_data"},
    {.name = "wallet_rotate",
     .description = "Give a wallet a new key (a new version and address); older keys stay sealed.",
     .input_schema = J({"type":"object","properties":{) WALLET_ID_PROP J(},
        "required":["wallet_id"],"additionalProperties":false}),
     .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "keyd", .method = "POST", .path = "/wallet/rotate"},
    {.name = "wallet_import",
     .description = "Import a private key as a new wallet (when the policy allows; a person approves).",
     .input_schema = J({"type":"object","properties":{) CHAIN_PROP J(,
        "label":{"type":"string","minLength":1,"maxLength":128,"description":"A name for the wallet."},
        "private_key":{"type":"string","minLength":1,"maxLength":66,
                       "description":"32 bytes, hex (the Ed25519 seed for Solana)."}},
        "required":["chain","label","private_key"],"additionalProperties":false}),
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "keyd", .method = "POST", .path = "/wallet/import"},
    {.name = "wallet_export",
     .description = "Export a wallet's private key (when the policy allows; a person approves).",
     .input_schema = J({"type":"object","properties":{) WALLET_ID_PROP J(},
        "required":["wallet_id"],"additionalProperties":false}),
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "keyd", .method = "POST", .path = "/wallet/export"},
    {.name = "vault_list",
     .description = "List the vault's secrets: names and versions, never a value.",
     .input_schema = PAGE_ONLY,
     .cls = OSM_CLASS_READ, .daemon = "keyd", .method = "GET", .path = "/vault/secrets",
     .flags = OSM_TOOL_LIST},
    {.name = "vault_deliver",
     .description = "Deliver a secret to a service as a file or a systemd credential (a person approves).",
     .input_schema = J({"type":"object","properties":{
        "name":{"type":"string","minLength":1,"maxLength":128,"description":"The secret's name."},
        "version":{"type":"integer","minimum":0,"description":"A version (0 or absent: the newest)."},
        "path":{"type":"string","minLength":1,
                "description":"A file under a delivery directory; absent: a systemd credential."},
        "uid":{"type":"integer","minimum":0,"description":"The file's owner."},
        "gid":{"type":"integer","minimum":0,"description":"The file's group."},
        "mode":{"type":"integer","minimum":0,"maximum":416,"description":"The file's mode (at most 0640)."}},
        "required":["name"],"additionalProperties":false}),
     .cls = OSM_CLASS_PRIVILEGED, .daemon = "keyd", .method = "POST",
     .path = "/vault/secrets/{name}/deliver"},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(keyd);
