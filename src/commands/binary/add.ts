import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { addBinary } from "../../records/binaries.js";

export default class BinaryAdd extends BaseCommand {
  static override summary = "Record a built binary: its SHA-256, size, platform, storage URLs and release; optionally signed.";
  static override description = "--sign-key signs the file in the SSH signature format (namespace boot-meta), which `ssh-keygen -Y verify -n boot-meta` checks; --signer NAME attributes the signature to NAME, whose public key must already be in keys/signers/NAME.pub: a key that is not NAME's is refused (and `binary verify` refuses such a signature too). Without --signer, `binary verify` names the signer by its key.\n\n--secret writes the record as a SOPS file whose URLs are encrypted to the project's readers (--secret-env ENV: to that environment's readers); the rest stays readable, so `binary which` still answers for everyone, and shows the URLs to those whose key opens them.";
  static override examples = [
    "<%= config.bin %> binary add shop ./dist/shop-linux-amd64 --release 1.4.0 --os linux --arch amd64 --url s3://artifacts/shop/1.4.0/shop-linux-amd64 --sign-key ci-signing-key --signer ci",
    "<%= config.bin %> binary add shop ./dist/shop --release 1.4.0 --os linux --arch amd64 --url https://user:token@artifacts.internal/shop --secret-env prod",
  ];
  static override args = { project: Args.string({ required: true, description: "project" }), file: Args.string({ required: true, description: "the binary" }) };
  static override flags = {
    ...repoFlags,
    ...writeFlags,
    release: Flags.string({ required: true, description: "release id or version it was built from" }),
    os: Flags.string({ required: true, description: "e.g. linux, darwin, windows" }),
    arch: Flags.string({ required: true, description: "e.g. amd64, arm64" }),
    url: Flags.string({ required: true, multiple: true, description: "where it is stored (s3://, https://, file://); repeatable" }),
    "sign-key": Flags.string({ description: "unencrypted OpenSSH ed25519 private key to sign with" }),
    signer: Flags.string({ description: "the signer's name: the --sign-key must be one of the keys in keys/signers/<name>.pub" }),
    secret: Flags.boolean({ description: "the storage URLs are secret: encrypt them to the project's readers" }),
    "secret-env": Flags.string({ description: "encrypt the storage URLs to the readers of this env (implies --secret)" }),
  };

  async run() {
    const { args, flags } = await this.parse(BinaryAdd);
    const r = await addBinary(await repoOf(flags), args.project, args.file, { release: flags.release, os: flags.os, arch: flags.arch, urls: flags.url, signKey: flags["sign-key"], signer: flags.signer, secret: flags["secret-env"] ?? flags.secret, author: flags.author, push: flags.push });
    this.log(r.value.sha256);
    // Secret storage details are not echoed back (they would end up in CI logs).
    const secret = Boolean(flags["secret-env"] ?? flags.secret);
    return { ...r.value, urls: secret ? undefined : r.value.urls, sealed: secret || undefined, commit: r.commit ?? null };
  }
}
