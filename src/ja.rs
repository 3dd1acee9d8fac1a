//! Japanese of the sentences that the readers, the configuration check and the clock estimate
//! write in English (a damaged chunk, a skipped file, a virtual switch's uplink, a clock's
//! basis): a report in Japanese says them in Japanese. JSON keeps the English warnings for
//! tooling; a finding's configuration facts follow the finding's language.
//!
//! Each sentence is written once in English where it is made, and once here. `{0}`, `{1}` …
//! are the parts that vary (numbers, names, the sentences of other layers), in the order the
//! English gives them; the Japanese may place them anywhere. `tests/ja.rs` checks that every
//! English sentence here still exists in the source, and the mutation corpus that every
//! warning it provokes is found here.

/// English → Japanese. The longest match (in fixed text) wins, so a sentence may extend another.
const SAID: &[(&str, &str)] = &[
    // Zip archives (input/archive.rs).
    ("zip archive cannot be read ({0})", "zip アーカイブを読み取れません ({0})"),
    ("it holds entries of the same name", "同じ名前のエントリーがあります"),
    (
        "its directory cannot be read ({0}); it may be cut short",
        "ディレクトリを読み取れません ({0})。途中で切れている可能性があります",
    ),
    (
        "zip archive holds {0} entries: only the first {1} were read; extract it and pass the folder",
        "zip アーカイブには {0} 個のエントリーがあり、最初の {1} 個だけを読み取りました。展開してフォルダーを指定してください",
    ),
    ("zip entry cannot be read ({0})", "zip エントリーを読み取れません ({0})"),
    (
        "encrypted zip entry skipped: hvtriage takes no passwords; extract it and pass the file",
        "暗号化された zip エントリーをスキップしました (hvtriage はパスワードを扱いません)。展開してファイルを指定してください",
    ),
    (
        "zip entry cannot be read ({0}); extract it and pass the file",
        "zip エントリーを読み取れません ({0})。展開してファイルを指定してください",
    ),
    ("{0} entries read, the limit", "上限の {0} 個のエントリーを読み取りました"),
    (
        "{0} entries read from their own headers",
        "{0} 個のエントリーをそれぞれのヘッダーから読み取りました",
    ),
    (
        "{0} entries read from their own headers, then it stopped ({1})",
        "{0} 個のエントリーをそれぞれのヘッダーから読み取った後、停止しました ({1})",
    ),
    (
        "zip archive read entry by entry because {0}: {1}; check it against the original",
        "zip アーカイブをエントリーごとに読み取りました (理由: {0}): {1}。元のファイルと照合してください",
    ),
    (
        "zip entry cannot be inflated ({0}): it is damaged or its header lies; extract it with another tool to see what is left",
        "zip エントリーを展開できません ({0})。破損しているか、ヘッダーが正しくありません。別のツールで展開して、残っている内容を確認してください",
    ),
    (
        "zip entry is {0} bytes uncompressed, over the limit of {1} bytes: skipped; extract it and pass the file",
        "zip エントリーは展開後 {0} バイトで、上限の {1} バイトを超えるためスキップしました。展開してファイルを指定してください",
    ),
    (
        "zip entry would inflate {0} times ({1} to {2} bytes), over the limit of {3}: refused as a possible zip bomb",
        "zip エントリーは {0} 倍 ({1} → {2} バイト) に展開され、上限の {3} 倍を超えるため、zip 爆弾の可能性があるとして拒否しました",
    ),
    (
        "zip entry inflates past the limit of {0} bytes: skipped; extract it and pass the file",
        "zip エントリーは展開すると上限の {0} バイトを超えるためスキップしました。展開してファイルを指定してください",
    ),
    (
        "zip entry inflates more than {0} times its {1} compressed bytes: refused as a possible zip bomb",
        "zip エントリーは圧縮サイズ {1} バイトの {0} 倍を超えて展開されるため、zip 爆弾の可能性があるとして拒否しました",
    ),
    (
        "zip archive and the archives inside it inflate more than {0} times its size: refused as a possible zip bomb",
        "zip アーカイブとその中のアーカイブは元のサイズの {0} 倍を超えて展開されるため、zip 爆弾の可能性があるとして拒否しました",
    ),
    (
        "zip entry could not be stored in a temporary file ({0}); free disk space or extract it",
        "zip エントリーを一時ファイルに保存できません ({0})。ディスクの空き領域を増やすか、展開してください",
    ),
    (
        "zip entry could not be inflated whole ({0}): a limit or error of this machine, not damage in the zip; the bytes before it were read — free disk space or raise the limit and run again",
        "zip エントリーを最後まで展開できません ({0})。zip の破損ではなく、このマシンの制限またはエラーです。それより前のバイトは読み取りました。ディスクの空き領域を増やすか上限を上げて、もう一度実行してください",
    ),
    (
        "zip entry is damaged ({0}); the bytes before the damage were read",
        "zip エントリーが破損しています ({0})。破損箇所より前のバイトは読み取りました",
    ),
    (
        "zip archives nest deeper than {0} levels: not read; extract the outer ones",
        "zip アーカイブの入れ子が {0} 階層を超えるため読み取りませんでした。外側のアーカイブを展開してください",
    ),
    // cluster.log (input/clusterlog.rs).
    ("cannot be read ({0})", "読み取れません ({0})"),
    (
        "read stopped at byte {0} ({1}): the rest is not read",
        "{0} バイト目で読み取りが止まりました ({1})。残りは読み取っていません",
    ),
    (
        "times are the node's local time (UTC {0} minutes, from its header): converted to UTC",
        "時刻はノードのローカル時刻です (ヘッダーによると UTC {0} 分)。UTC に変換しました",
    ),
    (
        "times are the node's local time (Get-ClusterLog -UseLocalTime) and the header gives no offset: read as UTC; collect it again without -UseLocalTime",
        "時刻はノードのローカル時刻 (Get-ClusterLog -UseLocalTime) ですが、ヘッダーに時差がないため UTC として読み取りました。-UseLocalTime を付けずにもう一度採取してください",
    ),
    // Files and folders (input/discover.rs, input/source.rs).
    (
        "cannot be read ({0}); check the path",
        "読み取れません ({0})。パスを確認してください",
    ),
    (
        "{0}; name the exported log files or their folder",
        "{0}。エクスポートしたログ ファイルかそのフォルダーを指定してください",
    ),
    ("folder cannot be read ({0})", "フォルダーを読み取れません ({0})"),
    (
        "symbolic link, not followed",
        "シンボリック リンクのため、たどりませんでした",
    ),
    ("not a regular file ({0})", "通常のファイルではありません ({0})"),
    (
        "empty file (0 bytes) named .evtx: nothing to read; collect the log again",
        "拡張子 .evtx の空のファイル (0 バイト) で、読み取るものがありません。ログをもう一度採取してください",
    ),
    (
        "named .evtx but is not an EVTX file (no ElfFile signature): damaged or not a log; export the log again",
        "拡張子は .evtx ですが EVTX ファイルではありません (ElfFile シグネチャがありません)。破損しているかログではありません。ログをもう一度エクスポートしてください",
    ),
    (
        "not an event log (neither EVTX nor Event XML)",
        "イベント ログではありません (EVTX でも Event XML でもありません)",
    ),
    (
        "{0} bytes, more than the {1} an XML export is read up to",
        "{0} バイトで、XML エクスポートとして読み取る上限の {1} バイトを超えています",
    ),
    // EVTX files (input/evtx.rs).
    (
        "cannot be read ({0}); skipped",
        "読み取れないためスキップしました ({0})",
    ),
    (
        "file is cut short: its last chunk ({0}) has only {1} of {2} bytes; the records before the cut were read",
        "ファイルが途中で切れています: 最後のチャンク ({0}) は {2} バイト中 {1} バイトしかありません。切れた箇所より前のレコードは読み取りました",
    ),
    (
        "chunk {0} is all zeroes although later chunks hold records: it was wiped or never written, and any records it held are lost",
        "チャンク {0} はすべてゼロですが、後のチャンクにはレコードがあります。消去されたか書き込まれなかったため、含まれていたレコードは失われています",
    ),
    (
        "{0} records recovered from unallocated space of chunk(s) {1} (deleted or overwritten records; they may be older than the live ones)",
        "チャンク {1} の未割り当て領域から {0} 件のレコードを復元しました (削除または上書きされたレコードで、現在のレコードより古い可能性があります)",
    ),
    (
        "file header is cut short ({0} of {1} bytes); no chunk could be read",
        "ファイル ヘッダーが途中で切れています ({1} バイト中 {0} バイト)。チャンクを読み取れませんでした",
    ),
    (
        "file header is marked dirty (copied while open); all chunks were read",
        "ファイル ヘッダーがダーティ (開いている間にコピーされた) とマークされています。すべてのチャンクを読み取りました",
    ),
    ("file holds no whole chunk", "完全なチャンクがありません"),
    ("chunk {0}: cannot be read ({1})", "チャンク {0}: 読み取れません ({1})"),
    (
        "chunk {0} skipped: not a valid chunk ({1})",
        "チャンク {0} をスキップしました: 有効なチャンクではありません ({1})",
    ),
    (
        "chunk {0}: checksum does not match; its records were read but may be damaged",
        "チャンク {0}: チェックサムが一致しません。レコードは読み取りましたが、破損している可能性があります",
    ),
    (
        "chunk {0}: its table of strings and templates is damaged ({1}); read again without it",
        "チャンク {0}: 文字列とテンプレートのテーブルが破損しています ({1})。テーブルを使わずに読み直しました",
    ),
    (
        "chunk {0} skipped ({1}): up to {2} records lost",
        "チャンク {0} をスキップしました ({1})。最大 {2} 件のレコードが失われました",
    ),
    (
        "chunk {0}: record unreadable ({1})",
        "チャンク {0}: 読み取れないレコードがあります ({1})",
    ),
    (
        "chunk {0}: {1} more unreadable records",
        "チャンク {0}: ほかに {1} 件の読み取れないレコードがあります",
    ),
    (
        "record {0} cannot be rendered ({1})",
        "レコード {0} を解釈できません ({1})",
    ),
    ("record {0} skipped: {1}", "レコード {0} をスキップしました: {1}"),
    ("{0} and {1} more", "{0} ほか {1} 件"),
    (
        "{0} recovered records are events of the timeline (record ids {1}): weigh them as possibly stale",
        "復元した {0} 件のレコードがタイムラインのイベントです (レコード ID {1})。古い可能性があるものとして扱ってください",
    ),
    // Limits (input/mod.rs, lib.rs).
    (
        "more events of the kinds hvtriage reads than one log of a real case holds: the first {0} were kept and {1} left out; narrow the time range with --since/--until, or check what wrote this file",
        "hvtriage が読む種類のイベントが、実際のケースのログ 1 つにある数より多くあります。最初の {0} 件を残し、{1} 件を除外しました。--since/--until で時間範囲を絞るか、このファイルを書き出したものを確認してください",
    ),
    (
        "more than a host's configuration ({0} MiB at most): not read",
        "ホストの構成としては大きすぎるため (最大 {0} MiB) 読み取りませんでした",
    ),
    ("not read ({0})", "読み取りませんでした ({0})"),
    (
        "this case holds more than {0} events the rules read (a real case holds a few thousand): {1} were left out of the timeline and the findings; narrow the time range with --since/--until",
        "このケースには、ルールが読むイベントが {0} 件を超えてあります (実際のケースでは数千件です)。{1} 件をタイムラインと診断から除外しました。--since/--until で時間範囲を絞ってください",
    ),
    // Event XML (input/xml.rs).
    (
        "cannot be read ({0}); skipped: export the log as .evtx instead",
        "読み取れないためスキップしました ({0})。ログを .evtx としてエクスポートしてください",
    ),
    (
        "cannot be read past byte {0} ({1}); the events before it were read",
        "{0} バイト目以降を読み取れません ({1})。それより前のイベントは読み取りました",
    ),
    (
        "line {0}: event skipped: more than {1} MiB of XML, which no exported event has",
        "{0} 行目: イベントをスキップしました: XML が {1} MiB を超えています (エクスポートされたイベントにこの大きさのものはありません)",
    ),
    (
        "line {0}: the file ends inside an event (cut short); the events before it were read",
        "{0} 行目: イベントの途中でファイルが終わっています (途中で切れています)。それより前のイベントは読み取りました",
    ),
    ("not well-formed XML ({0})", "整形式の XML ではありません ({0})"),
    (
        "line {0}: event skipped: {1}",
        "{0} 行目: イベントをスキップしました: {1}",
    ),
    ("no <System> element", "<System> 要素がありません"),
    ("no numeric <EventID>", "数値の <EventID> がありません"),
    ("no numeric <EventRecordID>", "数値の <EventRecordID> がありません"),
    ("no <TimeCreated SystemTime>", "<TimeCreated SystemTime> がありません"),
    ("bad SystemTime {0}", "SystemTime が不正です: {0}"),
    // Configuration files (config/).
    (
        "{0} bytes, more than a host's configuration ({1} MiB at most): not read",
        "{0} バイトで、ホストの構成としては大きすぎるため (最大 {1} MiB) 読み取りませんでした",
    ),
    (
        "CLIXML without any object hvtriage reads (GetLogs' NetInfoPerHost, or Get-VMSwitch, Get-VMNetworkAdapter, Get-NetAdapter, Get-NetLbfoTeamMember, Get-NetRoute): not used",
        "hvtriage が読むオブジェクト (GetLogs の NetInfoPerHost、または Get-VMSwitch、Get-VMNetworkAdapter、Get-NetAdapter、Get-NetLbfoTeamMember、Get-NetRoute) がない CLIXML のため、使用しませんでした",
    ),
    ("{0}; collect it again", "{0}。もう一度採取してください"),
    (
        "JSON without any object of the cmdlets hvtriage reads (Get-VMSwitch, Get-VMNetworkAdapter, Get-NetAdapter, Get-NetLbfoTeamMember, Get-NetRoute): not used",
        "hvtriage が読むコマンドレット (Get-VMSwitch、Get-VMNetworkAdapter、Get-NetAdapter、Get-NetLbfoTeamMember、Get-NetRoute) のオブジェクトがない JSON のため、使用しませんでした",
    ),
    (
        "{0}; collect it again with ConvertTo-Json",
        "{0}。ConvertTo-Json でもう一度採取してください",
    ),
    (
        "its ipconfig /all is of {0} (GetLogs runs ipconfig on the machine it runs on), not of {1}: not used",
        "この ipconfig /all は {1} ではなく {0} のものです (GetLogs は実行したマシンで ipconfig を実行します)。使用しませんでした",
    ),
    ("not valid JSON ({0})", "有効な JSON ではありません ({0})"),
    ("not well-formed CLIXML ({0})", "整形式の CLIXML ではありません ({0})"),
    // The configuration check (config/mod.rs).
    (
        "{0} is a member of the NIC team {1} with {2} other member(s)",
        "{0} は NIC チーム {1} のメンバーで、ほかに {2} 個のメンバーがあります",
    ),
    (
        "{0} is one member of the team {1}: the team, and the host's path through it, stayed up when that member lost its link",
        "{0} はチーム {1} のメンバーの 1 つです。そのメンバーのリンクが切断されても、チームとそれを通るホストの経路はアップのままでした",
    ),
    (
        "Get-VMSwitch output of the host (which NIC is the virtual switch's uplink)",
        "ホストの Get-VMSwitch の出力 (どの NIC が仮想スイッチのアップリンクか)",
    ),
    (
        "no virtual switch of {0} has {1} as its uplink",
        "{0} の仮想スイッチで {1} をアップリンクとするものはありません",
    ),
    (
        "{0} is not the uplink of any virtual switch of {1}, so it is not the protected network's NIC",
        "{0} は {1} のどの仮想スイッチのアップリンクでもないため、保護されたネットワークの NIC ではありません",
    ),
    (
        "{0} is the uplink of the virtual switch {1}",
        "{0} は仮想スイッチ {1} のアップリンクです",
    ),
    (
        "the virtual switch {0} is teamed over {1} NICs (Switch Embedded Teaming): one NIC's link loss leaves it up",
        "仮想スイッチ {0} は {1} 個の NIC でチーミングされています (スイッチ埋め込みチーミング)。1 つの NIC のリンクが切断されてもアップのままです",
    ),
    (
        "the virtual switch {0} is not shared with the host (AllowManagementOS off): its NIC's link loss does not cut the host off",
        "仮想スイッチ {0} はホストと共有されていません (AllowManagementOS がオフ)。その NIC のリンクが切断されてもホストは孤立しません",
    ),
    (
        "Get-VMNetworkAdapter -ManagementOS output of the host (whether the switch is shared with it)",
        "ホストの Get-VMNetworkAdapter -ManagementOS の出力 (スイッチがホストと共有されているか)",
    ),
    (
        "the virtual switch {0} is shared with the host ({1})",
        "仮想スイッチ {0} はホストと共有されています ({1})",
    ),
    (
        "VMs with a protected network on the switch {0}: {1}",
        "スイッチ {0} 上の、保護されたネットワークを持つ仮想マシン: {1}",
    ),
    (
        "other VMs on the switch {0}: {1}",
        "スイッチ {0} 上のその他の仮想マシン: {1}",
    ),
    (
        "the cluster network {0} runs on {1}",
        "クラスター ネットワーク {0} は {1} 上にあります",
    ),
    (
        "the cluster network {0} runs on {1} (role {2})",
        "クラスター ネットワーク {0} は {1} 上にあります (役割 {2})",
    ),
    (
        "the cluster network {0} runs on {1} (role {2}, metric {3})",
        "クラスター ネットワーク {0} は {1} 上にあります (役割 {2}、メトリック {3})",
    ),
    (
        "ipconfig /all (or Get-NetRoute) output of the host (its gateways and DNS servers)",
        "ホストの ipconfig /all (または Get-NetRoute) の出力 (ゲートウェイと DNS サーバー)",
    ),
    (
        "{0} has its own gateway {1} and DNS servers {2}",
        "{0} には独自のゲートウェイ {1} と DNS サーバー {2} があります",
    ),
    (
        "{0} gives the host a second path (gateway and DNS) that does not go through the switch {1}",
        "{0} により、ホストにはスイッチ {1} を経由しない 2 つ目の経路 (ゲートウェイと DNS) があります",
    ),
    (
        "a default route goes through {0} (next hop {1}, metric {2})",
        "既定のルートが {0} を経由しています (ネクスト ホップ {1}、メトリック {2})",
    ),
    (
        "the host has a default route through {0}, not through the switch {1}",
        "ホストにはスイッチ {1} ではなく {0} を経由する既定のルートがあります",
    ),
    (
        "every gateway and DNS server of the host is behind the switch {0}: {1}",
        "ホストのすべてのゲートウェイと DNS サーバーはスイッチ {0} の先にあります: {1}",
    ),
    ("{0} (gateway {1}, DNS {2})", "{0} (ゲートウェイ {1}、DNS {2})"),
    ("none", "なし"),
    (
        "the NIC driver's link-down event (which NIC lost its link)",
        "NIC ドライバーのリンク切断イベント (どの NIC のリンクが切断されたか)",
    ),
    // Why a case could not be read (lib.rs).
    ("skipped: {0}", "スキップしました: {0}"),
    ("no known event of this host", "このホストの既知のイベントがありません"),
    ("it holds no record", "レコードがありません"),
    (
        "{0} record(s) could not be read",
        "{0} 件のレコードを読み取れませんでした",
    ),
    (
        "{0} chunk(s) could not be read",
        "{0} 個のチャンクを読み取れませんでした",
    ),
    (
        "{0} chunk(s) and {1} record(s) could not be read",
        "{0} 個のチャンクと {1} 件のレコードを読み取れませんでした",
    ),
    (
        "{0} log file(s) opened, none with a readable record (first: {1}: {2})",
        "{0} 個のログ ファイルを開きましたが、読み取れるレコードはありません (最初のファイル: {1}: {2})",
    ),
    (
        "{0} log file(s) opened, none with a readable record (first: {1}: {2}); {3} other file(s) skipped",
        "{0} 個のログ ファイルを開きましたが、読み取れるレコードはありません (最初のファイル: {1}: {2})。ほかに {3} 個のファイルをスキップしました",
    ),
    ("no files found", "ファイルが見つかりません"),
    (
        "{0} file(s) skipped (first: {1}: {2})",
        "{0} 個のファイルをスキップしました (最初のファイル: {1}: {2})",
    ),
    ("the logs hold no records", "ログにレコードがありません"),
    // Clocks (clock.rs).
    (
        "{0} live migration(s) from {1} and {2} back, durations cancelled",
        "{1} からの {0} 回と戻りの {2} 回のライブ マイグレーション (所要時間を相殺)",
    ),
    (
        "{0} live migration(s) from {1}, one way (includes their duration)",
        "{1} からの {0} 回のライブ マイグレーション、片方向 (所要時間を含む)",
    ),
    (
        "{0} live migration(s) to {1}, one way (includes their duration)",
        "{1} への {0} 回のライブ マイグレーション、片方向 (所要時間を含む)",
    ),
    (
        "both ends of {0}: {1} ms, too small to tell from the migrations' own time; not corrected",
        "{0} の両端: {1} ms。マイグレーション自体の所要時間と区別できないほど小さいため、補正していません",
    ),
    ("both ends of {0}; {1}", "{0} の両端。{1}"),
    ("reference", "基準 (他のホストの時計をこのホストに合わせます)"),
    ("corrected", "補正しました"),
    ("too small to correct", "小さいため補正していません"),
    (
        "no event logged by several hosts to compare clocks",
        "時計を比較できる、複数のホストが記録したイベントがありません",
    ),
    (
        "no event shared with {0}: not corrected",
        "{0} と共通のイベントがないため、補正していません",
    ),
    (
        "median of {0} cluster-wide event(s) also logged by {1}; {2}",
        "{1} も記録したクラスター全体のイベント {0} 件の中央値。{2}",
    ),
];

/// The English sentences known here (for the test that they still exist in the source).
pub fn english() -> impl Iterator<Item = &'static str> {
    SAID.iter().map(|(en, _)| *en)
}

/// `text` in Japanese, or as written when no sentence here matches it.
pub fn say(text: &str) -> String {
    translate(text).unwrap_or_else(|| text.to_string())
}

/// `text` in the report's language: Japanese for `ja`, else as written.
pub fn in_lang(lang: &str, text: &str) -> String {
    if lang == "ja" {
        say(text)
    } else {
        text.to_string()
    }
}

/// How many `path: ` prefixes are tried before a sentence: a hostile text full of colons
/// costs no more than this.
const MAX_PREFIXES: usize = 8;

/// `text` in Japanese: a sentence here, or `prefix: sentence` whose prefix (a file, a chunk)
/// is kept as written. `None` when nothing here matches.
pub fn translate(text: &str) -> Option<String> {
    if let Some(said) = sentence(text) {
        return Some(said);
    }
    let mut at = 0;
    for _ in 0..MAX_PREFIXES {
        let Some(found) = text[at..].find(": ") else {
            break;
        };
        at += found + 2;
        if let Some(said) = sentence(&text[at..]) {
            return Some(format!("{}{said}", &text[..at]));
        }
    }
    None
}

/// The Japanese of the one sentence `text` is, with its parts translated in turn.
fn sentence(text: &str) -> Option<String> {
    let mut best: Option<(usize, &str, Vec<&str>)> = None;
    for (en, ja) in SAID {
        let Some(parts) = parts(en, text) else {
            continue;
        };
        let fixed = en.len() - parts.len() * 3;
        if best.as_ref().is_none_or(|(most, _, _)| fixed > *most) {
            best = Some((fixed, ja, parts));
        }
    }
    let (_, ja, parts) = best?;
    let mut out = ja.to_string();
    for (i, part) in parts.iter().enumerate() {
        out = out.replace(&format!("{{{i}}}"), &inner(part));
    }
    Some(out)
}

/// A part of a sentence: a list of sentences (`a; b`), a sentence, or a name kept as is.
fn inner(part: &str) -> String {
    if part.contains("; ") {
        let items: Vec<Option<String>> = part.split("; ").map(sentence).collect();
        if items.iter().all(Option::is_some) {
            return items.into_iter().flatten().collect::<Vec<_>>().join("; ");
        }
    }
    sentence(part).unwrap_or_else(|| part.to_string())
}

/// The varying parts of `text` when it is the sentence `pattern` (`{0}`, `{1}` … in order,
/// each non-empty; a part ends at the first place the fixed text after it fits).
fn parts<'t>(pattern: &str, text: &'t str) -> Option<Vec<&'t str>> {
    let fixed = split(pattern);
    let (first, rest) = fixed.split_first()?;
    let mut body = text.strip_prefix(first)?;
    let Some((last, middle)) = rest.split_last() else {
        return body.is_empty().then(Vec::new);
    };
    body = body.strip_suffix(last)?;
    let mut parts = Vec::with_capacity(rest.len());
    for piece in middle {
        let skip = body.chars().next()?.len_utf8();
        let at = body[skip..].find(piece)? + skip;
        parts.push(&body[..at]);
        body = &body[at + piece.len()..];
    }
    if body.is_empty() {
        return None;
    }
    parts.push(body);
    Some(parts)
}

/// The fixed text of a pattern, between its `{n}` parts (empty pieces included).
fn split(pattern: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push(&rest[..open]);
        rest = &rest[open + close + 1..];
    }
    out.push(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentence_behind_a_path_is_translated_and_the_path_kept() {
        assert_eq!(
            say("HV02/System.evtx: chunk 3: checksum does not match; its records were read but may be damaged"),
            "HV02/System.evtx: チャンク 3: チェックサムが一致しません。レコードは読み取りましたが、破損している可能性があります"
        );
    }

    #[test]
    fn parts_move_where_japanese_puts_them_and_are_translated_in_turn() {
        assert_eq!(
            say("2 file(s) skipped (first: a.evtx: named .evtx but is not an EVTX file (no ElfFile signature): damaged or not a log; export the log again)"),
            "2 個のファイルをスキップしました (最初のファイル: a.evtx: 拡張子は .evtx ですが EVTX ファイルではありません (ElfFile シグネチャがありません)。破損しているかログではありません。ログをもう一度エクスポートしてください)"
        );
        assert_eq!(
            say("the cluster network Cluster Network 1 runs on vEthernet (Corp) (role ClusterAndClient, metric 70384)"),
            "クラスター ネットワーク Cluster Network 1 は vEthernet (Corp) 上にあります (役割 ClusterAndClient、メトリック 70384)"
        );
    }

    #[test]
    fn the_longest_sentence_wins_and_unknown_text_stays() {
        assert_eq!(
            say("x.json: bad; collect it again with ConvertTo-Json"),
            "x.json: bad。ConvertTo-Json でもう一度採取してください"
        );
        assert_eq!(translate("something nobody wrote"), None);
        assert_eq!(say("something nobody wrote"), "something nobody wrote");
    }

    #[test]
    fn lists_of_sentences_are_translated_item_by_item() {
        assert_eq!(
            say("every gateway and DNS server of the host is behind the switch Corp: A (gateway none, DNS 10.0.0.10); B (gateway 10.0.0.1, DNS none)"),
            "ホストのすべてのゲートウェイと DNS サーバーはスイッチ Corp の先にあります: A (ゲートウェイ なし、DNS 10.0.0.10); B (ゲートウェイ 10.0.0.1、DNS なし)"
        );
    }
}
