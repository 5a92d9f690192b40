import { SecurityPolicy } from "node-opcua";

/** The security policies offered; Basic128Rsa15 is left out (Node 20 disables PKCS#1 v1.5 decryption). */
export const SECURITY_POLICIES = [SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep, SecurityPolicy.Aes256_Sha256_RsaPss];
