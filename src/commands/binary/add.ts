import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { addBinary } from "../../records/binaries.js";

export default class BinaryAdd extends BaseCommand {
  static override summary = "Record a built binary: its SHA-256, size, platform, storage URLs and release; optionally signed.";
  static override description = "--sign-key signs the file in the SSH signature format (namespace boot-meta), which `ssh-keygen -Y verify -n boot-meta` checks; put the signer's public key in keys/signers/<name>.pub so `binary verify` trusts it.";
  static override examples = ["<%= config.bin %> binary add shop ./dist/shop-linux-amd64 --release 1.4.0 --os linux --arch amd64 --url s3://artifacts/shop/1.4.0/shop-linux-amd64 --sign-key ci-signing-key --signer ci"];
  static override args = { project: Args.string({ required: true, description: "project" }), file: Args.string({ required: true, description: "the binary" }) };
  static override flags = {
    ...repoFlags,
    ...writeFlags,
    release: Flags.string({ required: true, description: "release id or version it was built from" }),
    os: Flags.string({ required: true, description: "e.g. linux, darwin, windows" }),
    arch: Flags.string({ required: true, description: "e.g. amd64, arm64" }),
    url: Flags.string({ required: true, multiple: true, description: "where it is stored (s3://, https://, file://); repeatable" }),
    "sign-key": Flags.string({ description: "unencrypted OpenSSH ed25519 private key to sign with" }),
    signer: Flags.string({ description: "the signer's name (keys/signers/<name>.pub)" }),
  };

  async run() {
    const { args, flags } = await this.parse(BinaryAdd);
    const r = await addBinary(await repoOf(flags), args.project, args.file, { release: flags.release, os: flags.os, arch: flags.arch, urls: flags.url, signKey: flags["sign-key"], signer: flags.signer, author: flags.author, push: flags.push });
    this.log(r.value.sha256);
    return { ...r.value, commit: r.commit ?? null };
  }
}
