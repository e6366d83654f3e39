// Drives a running gotrue-web server's web3 grant with @supabase/auth-js's signInWithWeb3 and
// prints one JSON object: step name -> what the client returned.
//
// Usage: node web3_driver.mjs <base url> <wallet url> <app url>
//
// The wallets are the client's own interfaces (a Solana wallet's signMessage and publicKey, an
// EIP-1193 Ethereum provider's request); their keys live in the test, behind <wallet url>
// (tests/live/test_auth_js_web3.py), which signs what auth-js built. Without a wallet url
// ("-") only the disabled-provider step runs.

import { AuthClient } from '@supabase/auth-js'

const [baseUrl, walletUrl, appUrl] = process.argv.slice(2)
if (!baseUrl || !walletUrl || !appUrl) {
  console.error('usage: node web3_driver.mjs <base url> <wallet url|-> <app url>')
  process.exit(2)
}

function describe({ data, error }) {
  return {
    error: error ? { name: error.name, status: error.status ?? null, code: error.code ?? null,
                     message: error.message } : null,
    user: data?.user ? { id: data.user.id, app_metadata: data.user.app_metadata,
                         user_metadata: data.user.user_metadata,
                         identities: (data.user.identities ?? []).map((i) => i.id) } : null,
    session: data?.session ? { token_type: data.session.token_type,
                               has_refresh_token: Boolean(data.session.refresh_token) } : null,
  }
}

function newClient() {
  return new AuthClient({ url: baseUrl, headers: { apikey: 'anon-key' }, autoRefreshToken: false,
                          persistSession: false, detectSessionInUrl: false })
}

async function sign(kind, message) {
  const answer = await fetch(walletUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ kind, message: Buffer.from(message).toString('hex') }),
  })
  if (!answer.ok) throw new Error(`wallet answered ${answer.status}`)
  return (await answer.json()).signature
}

async function walletInfo() {
  const answer = await fetch(walletUrl)
  return answer.json()
}

const results = {}

if (walletUrl === '-') {
  // GoTrueClient.test.ts's Web3 case: a signed message sent to a server with Web3 off.
  results.disabled = describe(await newClient().signInWithWeb3({
    chain: 'solana',
    message: 'localhost wants you to sign in with your Solana account:\n' + 'x'.repeat(44),
    signature: new Uint8Array(64),
  }))
} else {
  const { solana_address: solanaAddress, ethereum_address: ethereumAddress } = await walletInfo()
  const solanaWallet = {
    publicKey: { toBase58: () => solanaAddress },
    signMessage: async (bytes) => new Uint8Array(Buffer.from(await sign('solana', bytes), 'base64')),
  }
  const ethereumWallet = {
    request: async ({ method, params }) => {
      if (method === 'eth_requestAccounts') return [ethereumAddress]
      if (method === 'eth_chainId') return '0x89'
      if (method === 'personal_sign') {
        return sign('ethereum', Buffer.from(params[0].slice(2), 'hex'))
      }
      throw new Error(`unexpected wallet method ${method}`)
    },
  }
  results.solana = describe(await newClient().signInWithWeb3({
    chain: 'solana', wallet: solanaWallet, statement: 'Sign in to the test app',
    options: { url: appUrl },
  }))
  results.solana_again = describe(await newClient().signInWithWeb3({
    chain: 'solana', wallet: solanaWallet, options: { url: appUrl },
  }))
  results.solana_resources = describe(await newClient().signInWithWeb3({
    chain: 'solana', wallet: solanaWallet,
    options: { url: appUrl, signInWithSolana: { resources: ['https://example.com/terms'] } },
  }))
  results.ethereum = describe(await newClient().signInWithWeb3({
    chain: 'ethereum', wallet: ethereumWallet, statement: 'Sign in to the test app',
    options: { url: appUrl, signInWithEthereum: { nonce: 'abcdef12345678' } },
  }))
  results.ethereum_other_app = describe(await newClient().signInWithWeb3({
    chain: 'ethereum', wallet: ethereumWallet, options: { url: 'https://evil.example/' },
  }))
}

console.log(JSON.stringify(results))
