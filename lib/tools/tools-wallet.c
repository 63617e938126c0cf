/* Tools 14-20: wallets (keyd). Keys never leave keyd; the tools ask it to sign. */
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
        "payload":{"type":"string","minLength":2,"description":"Bytes to sign, hex."}},
        "required":["wallet_id","payload"],"additionalProperties":false}),
     .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "keyd", .method = "POST", .path = "/wallet/sign"},
    {.name = "wallet_send",
     .description = "Sign a transfer of amount to an address, within keyd's policy.",
     .input_schema = J({"type":"object","properties":{) WALLET_ID_PROP J(,
        "to":{"type":"string","minLength":1,"description":"Destination address."},
        "amount":{"type":"string","minLength":1,"description":"Decimal amount, e.g. \"0.05\"."}},
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
