// The archspec extension: highlighting (the TextMate grammar in syntaxes/) and archspec's language
// server, `archspec-lsp`, for diagnostics as you type, shapes on hover and as inlay hints,
// go-to-definition, references, completion, formatting, fixes and the outline.
//
// The server is a separate program (`pip install 'archspec-nn[lsp]'`); `archspec.server.path`
// says where it is when it is not on the PATH (a virtual environment's `.venv/bin/archspec-lsp`).
import * as path from "path";
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

let client: LanguageClient | undefined;

// The server's command: the setting as written, a relative path taken from the first workspace
// folder (`.venv/bin/archspec-lsp`), a bare name looked up on the PATH.
function serverCommand(setting: string): string {
  if (!setting.includes("/") && !setting.includes("\\")) {
    return setting;
  }
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (path.isAbsolute(setting) || folder === undefined) {
    return setting;
  }
  return path.join(folder.uri.fsPath, setting);
}

function createClient(): LanguageClient {
  const config = vscode.workspace.getConfiguration("archspec");
  const command = serverCommand(config.get<string>("server.path", "archspec-lsp"));
  const args = config.get<string[]>("server.args", []);
  const serverOptions: ServerOptions = {
    run: { command, args, transport: TransportKind.stdio },
    debug: { command, args, transport: TransportKind.stdio },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file", language: "arch" }],
    // Saved or changed .arch files re-check the open specs that import them.
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.arch"),
    },
    initializationOptions: {
      debounceMs: config.get<number>("diagnostics.debounceMs", 150),
    },
    outputChannelName: "archspec",
  };
  return new LanguageClient("archspec", "archspec", serverOptions, clientOptions);
}

async function start(): Promise<void> {
  client = createClient();
  try {
    await client.start();
  } catch (error) {
    const setting = "archspec.server.path";
    void vscode.window.showErrorMessage(
      `archspec: could not start the language server (${String(error)}). ` +
        `Install it with pip install 'archspec-nn[lsp]', or set ${setting}.`,
    );
  }
}

async function stop(): Promise<void> {
  if (client !== undefined) {
    const running = client;
    client = undefined;
    await running.stop();
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand("archspec.restartServer", async () => {
      await stop();
      await start();
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("archspec.server") || event.affectsConfiguration("archspec.diagnostics")) {
        await stop();
        await start();
      }
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}
