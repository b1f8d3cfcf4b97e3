// The peer linter's codes for each stird lint rule. The peer renamed its codes
// over the years (e_sti_* became e_atis_*) and split some by role, so one stird
// rule maps to several. Included by the conformance test and example.

/// Returns the peer codes that state the same requirement as the stird rule `code`.
#[allow(dead_code)]
fn peer_codes(code: &str) -> &'static [&'static str] {
    match code {
        "version_3" => &[
            "e_atis_version",
            "e_atis_ca_version",
            "e_sti_version",
            "e_sti_ca_version",
        ],
        "serial_positive" => &[
            "e_atis_serial_number",
            "e_atis_ca_serial_number",
            "e_sti_serial_number",
            "e_sti_ca_serial_number",
        ],
        "serial_64_bits" => &["e_atis_serial_number_size", "e_atis_serial_number_size_ca"],
        "signature_ecdsa_sha256" => &[
            "e_atis_signature_algorithm",
            "e_atis_signature_algorithm_ca",
            "e_atis_ca_signature_algorithm",
            "e_sti_signature_algorithm",
            "e_sti_ca_signature_algorithm",
        ],
        "key_p256" => &[
            "e_atis_subject_public_key",
            "e_atis_subject_public_key_ca",
            "e_atis_ca_subject_public_key",
            "e_sti_subject_public_key",
            "e_sti_ca_subject_public_key",
        ],
        "subject_c_o_cn" => &[
            "e_atis_subject_dn",
            "e_atis_subject_dn_ca",
            "e_atis_ca_subject_dn",
            "e_atis_subject",
            "e_atis_ca_subject",
            "e_sti_subject",
            "e_sti_ca_subject",
            "e_atis_subject_o_required",
            "e_atis_subject_o_required_ca",
            "e_atis_ca_subject_o_required",
        ],
        "subject_c_iso3166" => &[
            "e_atis_subject_c_iso",
            "e_atis_subject_c_iso_ca",
            "e_atis_ca_subject_c_iso",
        ],
        "issuer_c_o_cn" => &[
            "e_atis_issuer_dn",
            "e_atis_ca_issuer_dn",
            "e_sti_issuer_dn",
            "e_sti_ca_issuer_dn",
        ],
        "ca_cn_shaken" => &[
            "e_atis_subject_cn_ca",
            "e_atis_ca_subject_cn",
            "e_sti_ca_subject_cn",
        ],
        // The peer's end-entity e_atis_subject_cn fires together with its SPC rule.
        "ee_cn_shaken_spc" => &[
            "e_atis_subject_cn_spc",
            "e_sti_subject_cn",
            "e_atis_subject_cn",
        ],
        "root_cn_root" => &["e_atis_subject_cn_root"],
        "ee_subject_serial_number" => &[
            "e_us_cp_subject_sn",
            "e_cp1_3_subject_sn",
            "e_us_cp_subject_sn_shall",
        ],
        "subject_email" => &["w_cp_1_3_subject_email"],
        "subject_unexpected_attribute" => &[
            "w_cp1_3_subject_rdn_unknown",
            "w_cp1_3_ca_subject_rdn_unknown",
            "w_pki_subject_rdn_unknown",
            "w_pki_ca_subject_rdn_unknown",
            "w_shaken_subject_rdn_unknown",
            "w_shaken_ca_subject_rdn_unknown",
        ],
        "basic_constraints_critical" => &[
            "e_atis_basic_constraints",
            "e_atis_ext_basic_constraints",
            "e_sti_basic_constraints",
        ],
        "key_usage_critical" => &["e_atis_ext_key_usage"],
        "ee_key_usage_digital_signature" => &[
            "e_atis_key_usage",
            "e_atis_ext_key_usage_ee",
            "e_sti_key_usage",
        ],
        "ca_key_usage_cert_sign" => &["e_atis_ca_key_usage", "e_sti_ca_key_usage"],
        "ca_key_usage_cert_sign_only" => &["n_pki_ca_key_usage"],
        "key_usage_der" => &["e_incorrect_ku_encoding"],
        "subject_key_identifier" => &[
            "e_atis_subject_key_identifier",
            "e_atis_ca_subject_key_identifier",
            "e_sti_subject_key_identifier",
            "e_sti_ca_subject_key_identifier",
            "w_ext_subject_key_identifier_missing_sub_cert",
        ],
        "subject_key_identifier_sha1" => &["e_atis_subject_key_identifier_size"],
        "authority_key_identifier" => &[
            "e_atis_authority_key_identifier",
            "e_atis_ca_authority_key_identifier",
            "e_atis_ext_authority_key_identifier",
            "e_atis_ext_authority_key_identifier_ca",
            "e_sti_authority_key_identifier",
            "e_sti_ca_authority_key_identifier",
            "e_ext_authority_key_identifier_missing",
        ],
        "authority_key_identifier_key_id" => &["e_ext_authority_key_identifier_no_key_identifier"],
        "root_authority_key_identifier" => &[
            "e_atis_root_authority_key_identifier",
            "e_sti_root_authority_key_identifier",
        ],
        "certificate_policies_single" => &[
            "e_atis_certificate_policies",
            "e_atis_ext_certificate_policies",
            "e_atis_ext_certificate_policies_ca",
            "e_atis_ca_certificate_policies",
            "e_sti_certificate_policies",
            "e_sti_ca_certificate_policies",
        ],
        "certificate_policies_shaken" => &[
            "e_shaken_certificate_policies_id",
            "e_shaken_certificate_policies_id_ca",
        ],
        "certificate_policies_not_critical" => &[
            "n_atis_certificate_policy_critical",
            "n_atis_ca_certificate_policy_critical",
            "n_sti_certificate_policy_critical",
            "n_sti_ca_certificate_policy_critical",
        ],
        "root_no_certificate_policies" => &[
            "e_atis_root_certificate_policies",
            "e_sti_root_certificate_policies",
        ],
        "crl_distribution_point" => &[
            "e_atis_crl_distribution",
            "e_atis_ext_crl_distribution",
            "e_atis_ext_crl_distribution_ca",
            "e_atis_ca_crl_distribution",
            "e_sti_crl_distribution",
            "e_sti_ca_crl_distribution",
        ],
        "crl_distribution_point_form" => &[
            "e_atis_ext_crl_distribution_struct",
            "e_atis_ext_crl_distribution_struct_ca",
        ],
        "ee_tn_auth_list" => &["e_atis_tn_auth_list", "e_sti_tn_auth_list"],
        "ee_tn_auth_list_spc_format" => &["e_atis_tn_auth_list_spc_format"],
        "extension_not_specified" => &[
            "e_atis_extension_unknown",
            "e_atis_ca_extension_unknown",
            "e_atis_root_extension_unknown",
            "e_atis_ext_not_specified",
            "e_sti_extension_unknown",
            "e_sti_ca_extension_unknown",
            "e_sti_root_extension_unknown",
        ],
        _ => &[],
    }
}
