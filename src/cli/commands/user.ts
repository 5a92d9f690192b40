import type { Command } from "commander";
import { parseRoles } from "../../domain/roles";
import { generatePassword } from "../../services/password";
import { printJson, readStdin, say } from "../output";
import { cliActor, readCertificateFile, withDataOptions, withServices, type DataOptions } from "./common";

interface AddOptions extends DataOptions {
  roles?: string;
  passwordStdin?: boolean;
  certificate?: string;
}

/** `opcua-gds user add|list|remove`. */
export function registerUser(program: Command): void {
  const user = program.command("user").description("manage the users who sign in to the GDS");

  withDataOptions(user.command("add <name>").description("add a user"))
    .requiredOption("--roles <roles>", "comma-separated roles: SecurityAdmin, DiscoveryAdmin, CertificateAuthorityAdmin, RegistrationAuthorityAdmin")
    .option("--password-stdin", "read the password from standard input (otherwise one is generated and printed)")
    .option("--certificate <file>", "bind an X509 user-token certificate (PEM or DER) to the user")
    .option("--json", "print the result as JSON")
    .action(async (name: string, options: AddOptions) => {
      const roles = parseRoles(options.roles ?? "");
      const certificate = options.certificate ? await readCertificateFile(options.certificate) : null;
      let password: string | null = null;
      let generated = false;
      if (options.passwordStdin) password = await readStdin();
      else if (!certificate) {
        password = generatePassword();
        generated = true;
      }
      const added = await withServices(options, (s) => s.users.addUser(cliActor(), name, roles, password, certificate));
      if (options.json) return printJson({ ...added, generatedPassword: generated ? password : null });
      say(`user ${added.name} added with roles ${added.roles.join(", ") || "(none)"}`);
      if (generated) say(`password: ${password}  (shown once)`);
    });

  withDataOptions(user.command("list").description("list users and their roles"))
    .option("--json", "print as JSON")
    .action(async (options: DataOptions) => {
      const users = await withServices(options, (s) => s.users.listUsers());
      if (options.json) return printJson(users);
      if (users.length === 0) return say("no users");
      for (const u of users) say(`${u.name}\t${u.roles.join(",") || "-"}\t${u.hasPassword ? "password" : ""}${u.certificateThumbprint ? ` certificate ${u.certificateThumbprint}` : ""}`);
    });

  withDataOptions(user.command("remove <name>").description("remove a user"))
    .option("--json", "print the result as JSON")
    .action(async (name: string, options: DataOptions) => {
      await withServices(options, (s) => s.users.removeUser(cliActor(), name));
      if (options.json) return printJson({ removed: name });
      say(`user ${name} removed`);
    });
}
