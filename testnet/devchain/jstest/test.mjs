// Drives a devchain with near-api-js as a dapp would. TestNearAPIJS (Go)
// starts the chain and sets:
//   NEAR_RPC_URL       the devchain's JSON-RPC endpoint
//   ROOT_KEY_FILE      the root account's near-cli credentials file
//   COUNTER_WASM       testnet/examples/contracts/wasm/counter.wasm
//   OUTLAYER_WASM      contracts/wasm/outlayer.wasm
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Account, JsonRpcProvider, KeyPair, actions, baseEncode, nearToYocto, teraToGas } from 'near-api-js';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set; run this through TestNearAPIJS`);
  return v;
};

// A provider that does not retry: a devchain answers at once or it is a bug.
const provider = new JsonRpcProvider({ url: env('NEAR_RPC_URL') }, { retries: 1 });
const creds = JSON.parse(readFileSync(env('ROOT_KEY_FILE'), 'utf8'));
const root = new Account(creds.account_id, provider, creds.private_key);
const ONE_NEAR = nearToYocto('1');

// newAccount creates <name>.<root> with a fresh key and `near` NEAR.
async function newAccount(name, near) {
  const kp = KeyPair.fromRandom('ed25519');
  const id = `${name}.${root.accountId}`;
  await root.createAccount({ newAccountId: id, publicKey: kp.getPublicKey(), nearToTransfer: nearToYocto(String(near)) });
  return { account: new Account(id, provider, kp.toString()), keyPair: kp };
}

async function poll(what, fn, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let alice, aliceKey, counter;

// The result claim an executor signs (contracts/DESIGN.md, "The result
// claim"), here for a successful Text output of a request without secrets.
const sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const str = (s) => {
  const b = Buffer.from(s, 'utf8');
  const n = Buffer.alloc(4);
  n.writeUInt32BE(b.length);
  return Buffer.concat([n, b]);
};
const u64 = (x) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(x));
  return b;
};
function textClaimHash({ chainId, contract, req, wasmHex, text, instructions }) {
  return sha256(
    Buffer.from('outlayer-claim-v2'), str(chainId), str(contract), u64(req.request_id), Buffer.from(req.data_id),
    str(req.sender_id), Buffer.from(wasmHex, 'hex'), sha256(Buffer.from(req.input_data ?? '')),
    Buffer.from([1]), sha256(Buffer.from([3]), Buffer.from(text)), u64(instructions), Buffer.alloc(32),
  );
}

test('node status, network id, block, gas price, protocol and genesis config', async () => {
  const status = await provider.viewNodeStatus();
  assert.equal(await provider.getNetworkId(), status.chain_id);
  const block = await provider.viewBlock({ finality: 'final' });
  assert.equal(typeof block.header.height, 'number');
  const byHeight = await provider.viewBlock({ blockId: block.header.height });
  assert.equal(byHeight.header.hash, block.header.hash);
  const gp = await provider.viewGasPrice(null);
  assert.equal(gp.gas_price, '100000000');
  const pc = await provider.experimental_protocolConfig({ finality: 'final' });
  assert.equal(pc.runtime_config.storage_amount_per_byte, '10000000000000000000');
  const genesis = await provider.sendJsonRpc('EXPERIMENTAL_genesis_config', null);
  assert.equal(genesis.chain_id, status.chain_id);
  assert.equal(await provider.sendJsonRpc('health', []), null);
  const net = await provider.sendJsonRpc('network_info', []);
  assert.deepEqual(net.active_peers, []);
  const validators = await provider.viewValidators();
  assert.equal(validators.current_validators[0].account_id, root.accountId);
});

test('create an account; balance and state', async () => {
  ({ account: alice, keyPair: aliceKey } = await newAccount('alice', 10));
  const balance = await alice.getBalance();
  assert.equal(typeof balance, 'bigint');
  const state = await alice.getState();
  assert.equal(state.balance.total, 10n * ONE_NEAR);
  assert.equal(state.codeHash, '11111111111111111111111111111111');
  assert.ok(state.storageUsage > 100);
  const keys = await alice.getAccessKeyList();
  assert.deepEqual(keys.keys.map((k) => k.public_key), [aliceKey.getPublicKey().toString()]);
  const ak = await alice.getAccessKey(aliceKey.getPublicKey());
  assert.equal(typeof ak.nonce, 'bigint');
  await assert.rejects(provider.viewAccount({ accountId: `nobody.${root.accountId}` }), /does not exist/);
});

test('deploy, call, view, view errors', async () => {
  ({ account: counter } = await newAccount('counter', 10));
  const code = readFileSync(env('COUNTER_WASM'));
  await counter.deployContract(new Uint8Array(code));
  const viewed = await provider.viewContractCode({ contractId: counter.accountId });
  assert.equal(Buffer.from(viewed.code).compare(code), 0);
  assert.equal(await alice.callFunction({ contractId: counter.accountId, methodName: 'increment', args: {} }), 1);
  const out = await alice.callFunctionRaw({ contractId: counter.accountId, methodName: 'increment', args: {}, gas: teraToGas('30') });
  assert.deepEqual(out.receipts_outcome[0].outcome.logs, ['Increased number to 2']);
  assert.equal(await provider.callFunction({ contractId: counter.accountId, method: 'get_num', args: {} }), 2);
  const st = await counter.getContractState();
  assert.equal(Buffer.from(st.values[0].key, 'base64').toString(), 'num');
  // A state write in a view is refused in nearcore's words.
  await assert.rejects(
    provider.callFunction({ contractId: counter.accountId, method: 'increment', args: {} }),
    (err) => /HostError\(ProhibitedInView \{ method_name: "storage_write" \}\)/.test(err.message),
  );
  // near-api-js recognises nearcore's wording and throws its typed errors.
  await assert.rejects(
    provider.callFunction({ contractId: counter.accountId, method: 'no_such_method', args: {} }),
    (err) => err.constructor.name === 'ContractMethodNotFoundError',
  );
  await assert.rejects(
    provider.callFunction({ contractId: alice.accountId, method: 'get_num', args: {} }),
    (err) => err.constructor.name === 'ContractCodeDoesNotExistError' && err.message.includes(alice.accountId),
  );
  await assert.rejects(
    provider.viewAccount({ accountId: `nobody.${root.accountId}` }),
    (err) => err.constructor.name === 'AccountDoesNotExistError',
  );
  // A failing transaction throws the parsed execution error.
  await assert.rejects(alice.callFunction({ contractId: `nobody.${root.accountId}`, methodName: 'x', args: {} }), /does not exist|AccountDoesNotExist/);
});

test('a function-call access key, as a dapp login creates', async () => {
  const appKey = KeyPair.fromRandom('ed25519');
  await alice.addFunctionCallAccessKey({ publicKey: appKey.getPublicKey(), contractId: counter.accountId, methodNames: ['increment'], allowance: nearToYocto('0.25') });
  const app = new Account(alice.accountId, provider, appKey.toString());
  assert.equal(await app.callFunction({ contractId: counter.accountId, methodName: 'increment', args: {} }), 3);
  const key = await app.getAccessKey(appKey.getPublicKey());
  assert.equal(key.permission.FunctionCall.receiver_id, counter.accountId);
  assert.ok(BigInt(key.permission.FunctionCall.allowance) < nearToYocto('0.25'));
  // The key may not call other methods or transfer.
  await assert.rejects(app.callFunction({ contractId: counter.accountId, methodName: 'get_num', args: {} }), (err) => err.constructor.name === 'AccessKeyMethodNameMismatchActionError');
  await assert.rejects(app.transfer({ receiverId: counter.accountId, amount: 1n }), (err) => err.constructor.name === 'AccessKeyRequiresFullAccessActionError');
  await alice.deleteKey(appKey.getPublicKey());
  const keys = await alice.getAccessKeyList();
  assert.equal(keys.keys.length, 1);
});

test('transactions, receipts and chunks can be looked up', async () => {
  const out = await alice.transfer({ receiverId: counter.accountId, amount: 1n });
  const hash = out.transaction_outcome.id;
  const tx = await provider.viewTransactionStatus({ txHash: hash, accountId: alice.accountId, waitUntil: 'FINAL' });
  assert.equal(tx.final_execution_status, 'FINAL');
  const withReceipts = await provider.viewTransactionStatusWithReceipts({ txHash: hash, accountId: alice.accountId, waitUntil: 'FINAL' });
  assert.ok(withReceipts.receipts.length >= 1);
  const receipt = await provider.viewTransactionReceipt(withReceipts.receipts[0].receipt_id);
  assert.equal(receipt.receiver_id, counter.accountId);
  const block = await provider.viewBlock({ blockId: out.transaction_outcome.block_hash });
  const byHash = await provider.viewChunk(block.chunks[0].chunk_hash);
  const byBlock = await provider.viewChunk([block.header.height, 0]);
  assert.equal(byBlock.header.chunk_hash, byHash.header.chunk_hash);
  assert.ok(byHash.transactions.some((t) => t.hash === hash));
  // INCLUDED answers once the transaction is in a block, receipts_outcome still empty.
  const included = await alice.signAndSendTransaction({ receiverId: counter.accountId, actions: [actions.transfer(1n)], waitUntil: 'INCLUDED' });
  assert.ok(Array.isArray(included.receipts_outcome));
  assert.ok(included.transaction_outcome.id);
});

test('queries at a past block answer from that block', async () => {
  const before = await provider.viewBlock({ finality: 'final' });
  const was = await provider.viewAccount({ accountId: alice.accountId, blockQuery: { blockId: before.header.height } });
  const transfer = await root.transfer({ receiverId: alice.accountId, amount: ONE_NEAR });
  const now = await provider.viewAccount({ accountId: alice.accountId });
  assert.equal(now.amount, was.amount + ONE_NEAR);
  const then = await provider.viewAccount({ accountId: alice.accountId, blockQuery: { blockId: before.header.height } });
  assert.equal(then.amount, was.amount);
  assert.equal(then.block_height, before.header.height);
  const num = await provider.callFunction({ contractId: counter.accountId, method: 'get_num', args: {}, blockQuery: { blockId: before.header.hash } });
  assert.equal(num, 3);
  const keys = await provider.viewAccessKeyList({ accountId: alice.accountId, finalityQuery: { finality: 'final' } });
  assert.equal(keys.keys.length, 1);
});

test('EXPERIMENTAL_changes: what a block changed', async () => {
  const out = await root.transfer({ receiverId: alice.accountId, amount: ONE_NEAR });
  const credit = out.receipts_outcome.find((r) => r.outcome.executor_id === alice.accountId);
  const now = await provider.viewAccount({ accountId: alice.accountId });
  const changes = await provider.accountChanges([alice.accountId], { blockId: credit.block_hash });
  assert.equal(changes.block_hash, credit.block_hash);
  const update = changes.changes.find((c) => c.type === 'account_update');
  assert.equal(update.change.amount, now.amount.toString());
  assert.deepEqual(update.cause, { type: 'receipt_processing', receipt_hash: credit.id });
  const touched = await provider.blockChanges({ blockId: credit.block_hash });
  assert.ok(touched.changes.some((c) => c.type === 'account_touched' && c.account_id === alice.accountId));
  // The counter's data entry in the block its increment ran in.
  const inc = await alice.callFunctionRaw({ contractId: counter.accountId, methodName: 'increment', args: {}, waitUntil: 'FINAL' });
  const ran = inc.receipts_outcome.find((r) => r.outcome.executor_id === counter.accountId);
  const data = await provider.contractStateChanges([counter.accountId], { blockId: ran.block_hash });
  const entry = data.changes.find((c) => c.type === 'data_update');
  assert.equal(Buffer.from(entry.change.key_base64, 'base64').toString(), 'num');
  // The signer's key nonce moved in the block that included the transaction.
  const keyChanges = await provider.singleAccessKeyChanges([{ account_id: alice.accountId, public_key: aliceKey.getPublicKey().toString() }], { blockId: inc.transaction_outcome.block_hash });
  assert.equal(keyChanges.changes[0].type, 'access_key_update');
  assert.equal(keyChanges.changes[0].cause.tx_hash, inc.transaction_outcome.id);
  const code = await provider.contractCodeChanges([counter.accountId], { blockId: ran.block_hash });
  assert.deepEqual(code.changes, []);
});

test('meta-transaction: alice signs a delegate action, root relays and pays', async () => {
  const before = await alice.getState();
  const signed = await alice.createSignedMetaTransaction({
    receiverId: counter.accountId,
    actions: [actions.functionCall('increment', {}, teraToGas('30'), 0n)],
  });
  const out = await root.relayMetaTransaction(signed.signedDelegate);
  assert.ok(out.receipts_outcome.some((r) => r.outcome.executor_id === counter.accountId && r.outcome.logs.includes('Increased number to 5')));
  assert.equal(await provider.callFunction({ contractId: counter.accountId, method: 'get_num', args: {} }), 5);
  const after = await alice.getState();
  assert.equal(after.balance.total, before.balance.total, 'the relayer pays, not alice');
});

test('OutLayer: request_execution yields until the operator resolves', async () => {
  const { account: outlayer } = await newAccount('outlayer', 20);
  const chainId = (await provider.viewNodeStatus()).chain_id;
  await outlayer.signAndSendTransaction({
    receiverId: outlayer.accountId,
    actions: [
      actions.deployContract(new Uint8Array(readFileSync(env('OUTLAYER_WASM')))),
      actions.functionCall('new', { owner_id: root.accountId, operator_id: root.accountId, chain_id: chainId }, teraToGas('30'), 0n),
    ],
  });
  // Every result needs one registered executor's signature (k = 1): the
  // owner registers the key a node would sign with.
  const executor = KeyPair.fromRandom('ed25519');
  await root.callFunction({
    contractId: outlayer.accountId,
    methodName: 'add_executor_key',
    args: { public_key: executor.getPublicKey().toString() },
    gas: teraToGas('30'),
  });
  const limits = { max_instructions: 1000000000, max_memory_mb: 128, max_execution_seconds: 60 };
  const cost = await provider.callFunction({ contractId: outlayer.accountId, method: 'estimate_execution_cost', args: { resource_limits: limits } });
  const request = {
    code_source: { WasmUrl: { url: 'https://example.com/p.wasm', hash: 'ab'.repeat(32), build_target: null } },
    resource_limits: limits,
    input_data: '{"n": 7}',
  };
  // The call yields: wait until it is in a block, as a dapp that cannot hold a request open would.
  const sent = await alice.signAndSendTransaction({
    receiverId: outlayer.accountId,
    actions: [actions.functionCall('request_execution', request, teraToGas('300'), BigInt(cost))],
    waitUntil: 'INCLUDED',
  });
  const txHash = sent.transaction_outcome.id;
  const pending = await poll('the pending request', async () => {
    const list = await provider.callFunction({ contractId: outlayer.accountId, method: 'get_pending_requests', args: {} });
    return list.length === 1 ? list[0] : null;
  });
  assert.equal(pending.sender_id, alice.accountId);
  const waiting = await provider.viewTransactionStatus({ txHash, accountId: alice.accountId, waitUntil: 'NONE' });
  assert.equal(waiting.status, 'Started', 'the request is still yielding');
  // The operator (a worker node in production) resolves it, with the
  // executor's signature of the claim the contract recomputes.
  const wasmHex = 'ab'.repeat(32);
  const claim = textClaimHash({ chainId, contract: outlayer.accountId, req: pending, wasmHex, text: 'hello from js', instructions: 1000 });
  await root.callFunction({
    contractId: outlayer.accountId,
    methodName: 'resolve_execution',
    args: {
      request_id: pending.request_id,
      response: { success: true, output: { Text: 'hello from js' }, error: null, resources_used: { instructions: 1000, time_ms: 3, compile_time_ms: null }, compilation_note: null },
      wasm_sha256: wasmHex,
      signatures: [{ public_key: executor.getPublicKey().toString(), signature: 'ed25519:' + baseEncode(executor.sign(claim).signature) }],
    },
    gas: teraToGas('300'),
  });
  const done = await provider.viewTransactionStatus({ txHash, accountId: alice.accountId, waitUntil: 'FINAL' });
  const result = JSON.parse(Buffer.from(done.status.SuccessValue, 'base64').toString());
  assert.equal(result, 'hello from js');
});
