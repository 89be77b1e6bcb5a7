//! JDL from the simple submission form, with every string quoted and escaped so that no argument
//! can end a value and add attributes of its own.

use std::fmt::Write as _;

/// The simple form of a job.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimpleJob {
    pub executable: String,
    pub arguments: Option<String>,
    pub job_name: Option<String>,
    pub input_sandbox: Vec<String>,
    pub output_sandbox: Vec<String>,
    pub site: Option<String>,
    pub cpu_time: Option<u64>,
    pub memory_mb: Option<u64>,
    pub processors: Option<u32>,
    pub job_group: Option<String>,
    pub tags: Vec<String>,
}

/// A JDL string literal.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| quote(i)).collect();
    format!("{{{}}}", quoted.join(", "))
}

impl SimpleJob {
    /// The JDL; standard output and error go to `std.out` / `std.err` in the output sandbox.
    pub fn to_jdl(&self) -> String {
        let mut jdl = String::from("[\n");
        let mut line = |key: &str, value: String| {
            let _ = writeln!(jdl, "    {key} = {value};");
        };
        line("Executable", quote(&self.executable));
        if let Some(arguments) = self.arguments.as_deref().filter(|a| !a.is_empty()) {
            line("Arguments", quote(arguments));
        }
        let name = self.job_name.clone().unwrap_or_else(|| {
            let base = self.executable.rsplit('/').next().unwrap_or(&self.executable);
            format!("dirac-mcp_{base}")
        });
        line("JobName", quote(&name));
        line("StdOutput", quote("std.out"));
        line("StdError", quote("std.err"));
        let mut output = vec!["std.out".to_owned(), "std.err".to_owned()];
        output.extend(
            self.output_sandbox.iter().filter(|f| !output.contains(f)).cloned().collect::<Vec<_>>(),
        );
        line("OutputSandbox", list(&output));
        if !self.input_sandbox.is_empty() {
            line("InputSandbox", list(&self.input_sandbox));
        }
        if let Some(site) = &self.site {
            line("Site", quote(site));
        }
        if let Some(cpu) = self.cpu_time {
            line("CPUTime", cpu.to_string());
        }
        if let Some(memory) = self.memory_mb {
            line("MinRAM", memory.to_string());
        }
        if let Some(processors) = self.processors {
            line("MinNumberOfProcessors", processors.to_string());
        }
        if let Some(group) = &self.job_group {
            line("JobGroup", quote(group));
        }
        if !self.tags.is_empty() {
            line("Tags", list(&self.tags));
        }
        jdl.push(']');
        jdl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_cannot_break_out_of_their_value() {
        let job = SimpleJob {
            executable: "/bin/echo".into(),
            arguments: Some("hi\"; Owner = \"mallory".into()),
            ..SimpleJob::default()
        };
        let jdl = job.to_jdl();
        assert!(jdl.contains(r#"Arguments = "hi\"; Owner = \"mallory";"#), "{jdl}");
        assert!(jdl.contains(r#"JobName = "dirac-mcp_echo";"#));
        assert!(jdl.contains(r#"OutputSandbox = {"std.out", "std.err"};"#));
    }

    #[test]
    fn requirements_are_numbers() {
        let job = SimpleJob {
            executable: "run.sh".into(),
            site: Some("LCG.CERN.ch".into()),
            cpu_time: Some(3600),
            memory_mb: Some(2048),
            output_sandbox: vec!["out.root".into()],
            ..SimpleJob::default()
        };
        let jdl = job.to_jdl();
        for expected in [
            "CPUTime = 3600;",
            "MinRAM = 2048;",
            "Site = \"LCG.CERN.ch\";",
            r#"{"std.out", "std.err", "out.root"}"#,
        ] {
            assert!(jdl.contains(expected), "{expected} not in {jdl}");
        }
    }
}
