//! The demo county seeded into an empty data directory by `doudi up`: a few households of every
//! category, all clearly marked (household numbers `DEMO-…`, township `示范镇（演示数据）`) and
//! with synthetic national IDs that pass the checksum but belong to no one.

use anyhow::{Result, bail};
use doudi_core::national_id::synthesize;
use doudi_core::{Date, NationalId};
use doudi_eligibility::EligibilityService;
use doudi_eligibility::registry::import::HEADER;
use doudi_eligibility::staff::rules::Role;
use doudi_gateway::hospitals::HospitalStore;
use doudi_runtime::Config;
use std::net::SocketAddr;

pub const DEMO_TOWNSHIP: &str = "示范镇（演示数据）";

/// A person of the demo county worth trying `doudi coverage` on.
pub struct DemoPerson {
    pub national_id: NationalId,
    pub note: &'static str,
    pub day: &'static str,
}

struct Row {
    household: &'static str,
    village: &'static str,
    birth: &'static str,
    sequence: u32,
    name: &'static str,
    relation: &'static str,
    category: &'static str,
    from: &'static str,
    to: &'static str,
    account: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        household: "DEMO-0001",
        village: "东村",
        birth: "1962-03-14",
        sequence: 11,
        name: "李大山",
        relation: "HEAD",
        category: "DIBAO_1",
        from: "2015-01-01",
        to: "",
        account: "6228480000000011",
    },
    Row {
        household: "DEMO-0001",
        village: "东村",
        birth: "1964-08-02",
        sequence: 22,
        name: "王桂兰",
        relation: "SPOUSE",
        category: "DIBAO_1",
        from: "2015-01-01",
        to: "",
        account: "",
    },
    Row {
        household: "DEMO-0002",
        village: "东村",
        birth: "1975-06-30",
        sequence: 31,
        name: "陈秀英",
        relation: "HEAD",
        category: "DIBAO_2",
        from: "2015-01-01",
        to: "",
        account: "6228480000000022",
    },
    Row {
        household: "DEMO-0002",
        village: "东村",
        birth: "1975-06-30",
        sequence: 31,
        name: "陈秀英",
        relation: "HEAD",
        category: "REGISTERED_POOR",
        from: "2014-06-01",
        to: "",
        account: "6228480000000022",
    },
    Row {
        household: "DEMO-0002",
        village: "东村",
        birth: "2008-11-20",
        sequence: 42,
        name: "陈小明",
        relation: "CHILD",
        category: "DIBAO_2",
        from: "2015-01-01",
        to: "",
        account: "",
    },
    Row {
        household: "DEMO-0003",
        village: "西村",
        birth: "1940-01-09",
        sequence: 51,
        name: "张老汉",
        relation: "HEAD",
        category: "TEKUN",
        from: "2015-01-01",
        to: "",
        account: "6228480000000033",
    },
    Row {
        household: "DEMO-0004",
        village: "西村",
        birth: "1980-12-12",
        sequence: 63,
        name: "刘建国",
        relation: "HEAD",
        category: "REGISTERED_POOR",
        from: "2015-03-01",
        to: "",
        account: "",
    },
    Row {
        household: "DEMO-0005",
        village: "西村",
        birth: "1950-04-21",
        sequence: 71,
        name: "赵玉珍",
        relation: "HEAD",
        category: "LOW_INCOME",
        from: "2015-01-01",
        to: "",
        account: "",
    },
    Row {
        household: "DEMO-0006",
        village: "南村",
        birth: "1970-09-09",
        sequence: 85,
        name: "孙有福",
        relation: "HEAD",
        category: "DIBAO_2",
        from: "2015-01-01",
        to: "2015-12-31",
        account: "6228480000000066",
    },
];

fn national_id(row: &Row) -> Result<NationalId> {
    let birth: Date = row.birth.parse()?;
    Ok(synthesize("360730", birth, row.sequence))
}

/// The demo recipients file, in the import format.
pub fn csv() -> Result<String> {
    let mut text = HEADER.join(",");
    for row in ROWS {
        text.push_str(&format!(
            "\n{},{DEMO_TOWNSHIP},{},{},{},{},{},{},{},{},{}",
            row.household,
            row.village,
            national_id(row)?.expose(),
            row.name,
            row.relation,
            row.birth,
            row.category,
            row.from,
            row.to,
            row.account
        ));
    }
    text.push('\n');
    Ok(text)
}

pub const DEMO_HOSPITAL: &str = "DEMO-H1";

/// What the demo seeded: people worth looking up, and the demo hospital's API key.
pub struct Demo {
    pub people: Vec<DemoPerson>,
    pub hospital_key: String,
    /// A county member of staff's token, for the dibao procedure.
    pub county_token: String,
}

/// Imports the demo county and registers a demo county hospital.
pub async fn seed(service: &EligibilityService, hospitals: &HospitalStore) -> Result<Demo> {
    match service.import_csv(&csv()?, "demo-county.csv", "demo-seed", false).await {
        Ok(_) => {}
        Err(e) => bail!("demo data could not be seeded: {e:?}"),
    }
    let hospital_key = hospitals
        .add(DEMO_HOSPITAL, "示范县人民医院（演示数据）", "COUNTY", None, "demo-seed")
        .await
        .map_err(|e| anyhow::anyhow!("demo hospital could not be added: {e}"))?;
    let (_, county_token) = service
        .store()
        .add_staff(
            "演示县民政局（演示数据）",
            Role::County,
            None,
            doudi_core::Date::today_china().add_days(365),
            "demo-seed",
        )
        .await
        .map_err(|e| anyhow::anyhow!("demo staff could not be added: {e}"))?;
    Ok(Demo { people: people()?, hospital_key, county_token })
}

/// Prints pasteable lines that show the demo at work.
/// The demo county's budgets for its year: ten million yuan a fund, so a demo payroll is paid.
pub async fn seed_budgets(payment: &doudi_payment::PaymentService, relief: &doudi_relief::ReliefService) -> Result<()> {
    for fund in doudi_payment::funds::Fund::ALL {
        payment
            .set_budget(*fund, 2016, 1_000_000_000, "demo-seed")
            .await
            .map_err(|e| anyhow::anyhow!("demo budgets could not be set: {e}"))?;
    }
    // The relief budget for the demo year and this one (its grants are decided today).
    let this_year = i64::from(doudi_core::Date::today_china().year());
    for year in [2016, this_year] {
        relief
            .set_budget(year, 1_000_000_000, "demo-seed")
            .await
            .map_err(|e| anyhow::anyhow!("the demo relief budget could not be set: {e}"))?;
        payment
            .set_budget(doudi_payment::funds::Fund::Relief, year, 1_000_000_000, "demo-seed")
            .await
            .map_err(|e| anyhow::anyhow!("demo budgets could not be set: {e}"))?;
    }
    Ok(())
}

pub fn print_hints(demo: &Demo, config: &Config, eligibility: SocketAddr, relief: SocketAddr, http: SocketAddr) {
    println!("demo county seeded (DEMO DATA: households DEMO-…, township {DEMO_TOWNSHIP}); try:");
    let data_dir = config.data_dir.display();
    // The path of this very program, so the lines can be pasted as they are.
    let program = std::env::current_exe().map_or_else(|_| "doudi".to_owned(), |p| p.display().to_string());
    for person in &demo.people {
        println!(
            "  {program} --data-dir {data_dir} coverage {} --on {}   # {}",
            person.national_id.expose(),
            person.day,
            person.note
        );
    }
    let first = &demo.people[0];
    // Staff tools connect with server-side TLS (the development CA) and a staff token.
    let ca = config.dev_tls_dir().join("ca.crt");
    let ca = ca.display();
    println!(
        "  grpcurl -cacert {ca} -H 'authorization: Bearer {}' -d '{{\"nationalId\":\"{}\",\"date\":\"{}\"}}' {eligibility} doudi.eligibility.v1.Eligibility/GetCoverage",
        demo.county_token,
        first.national_id.expose(),
        first.day,
    );
    println!(
        "  grpcurl -cacert {ca} -H 'authorization: Bearer {}' -d '{{\"householdNo\":\"DEMO-0006\"}}' {eligibility} doudi.eligibility.v1.DibaoProcedure/SubmitApplication",
        demo.county_token
    );
    println!(
        "  grpcurl -cacert {ca} -H 'authorization: Bearer {}' -d '{{\"kind\":\"EMERGENCY\",\"householdNo\":\"DEMO-0001\",\"facts\":\"house fire\",\"askedFen\":\"50000\",\"occurredOn\":\"{}\"}}' {relief} doudi.relief.v1.Relief/SubmitCase   # then GrantEmergency",
        demo.county_token,
        doudi_core::Date::today_china()
    );
    println!("demo county staff token (every staff call; `doudi staff add` issues real ones): {}", demo.county_token);
    println!("demo hospital {DEMO_HOSPITAL} (COUNTY level); settle policy.md's bill B1 for the DIBAO_2 person:");
    println!(
        "  curl -s -H 'Authorization: Bearer {}' -d '{{\"billNo\":\"B1\",\"nationalId\":\"{}\",\"visitType\":\"INPATIENT\",\"admittedOn\":\"2016-03-01\",\"dischargedOn\":\"2016-03-10\",\"totalFen\":\"2000000\",\"inPolicyFen\":\"1800000\"}}' http://{http}/v1/settlements",
        demo.hospital_key,
        first.national_id.expose(),
    );
    println!("demo hospital API key (shown once): {}", demo.hospital_key);
    println!("demo budgets for 2016 are set; pay the county's March 2016 benefits (DRAFT until approved):");
    println!("  {program} --data-dir {data_dir} payroll run --month 2016-03");
    println!("  {program} --data-dir {data_dir} payroll approve --month 2016-03");
}

fn people() -> Result<Vec<DemoPerson>> {
    Ok(vec![
        DemoPerson {
            national_id: national_id(&ROWS[2])?,
            note: "DIBAO_2 and registered poor (the policy's worked examples)",
            day: "2016-03-10",
        },
        DemoPerson { national_id: national_id(&ROWS[5])?, note: "TEKUN", day: "2016-03-10" },
        DemoPerson {
            national_id: national_id(&ROWS[8])?,
            note: "DIBAO_2 until 2015-12-31, then none",
            day: "2016-03-10",
        },
    ])
}
