"""Where each named corpus comes from: pinned public GitHub files, their hashes, licences and types.

Every corpus of ../shared/data (the paper's eight, Table 1) and ../shared/data-extra (nine more of
Crichton et al. 2017) is fetched from the files that ../shared/data/README.md and
../shared/data-extra/README.md name, at the commit named there. Each downloaded file is checked
against its git blob id at that commit (sha1 of b"blob <size>\\0" + bytes, what `git hash-object`
prints), and each converted file against the sha256 of the file in ../shared/data(-extra) that every
result here was computed on. The blob ids were read with `git ls-tree` from the pinned commits;
chemdner's also appear in ../shared/data/README.md. chemdner has no converted hash: its files were
never obtained here (../shared/data/README.md, "chemdner"). jnlpba's train file is Crichton's IOB
`data/JNLPBA/train.tsv`, whose blob ../shared/data/README.md shows equal to the file the shared
train.tsv was made from; it too was never downloaded here, so the conversion of its bytes was checked
only on jnlpba's dev and test files (same producer, same -DOCSTART- layout).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

RAW_BASE = "https://raw.githubusercontent.com"  # {RAW_BASE}/{owner}/{repo}/{commit}/{path}
CRICHTON = ("cambridgeltl/MTL-Bioinformatics-2016", "df0df02fae6dbb87d88ffcf323b9096528f06f84")
BIOFLAIR = ("shreyashub/BioFLAIR", "9edc438997baca6337552639120e363b9894cc98")  # BioBERT's NER data, vendored

CRICHTON_TERMS = ("CC BY 4.0 (LICENSE.md of cambridgeltl/MTL-Bioinformatics-2016: \"the other materials under "
                  "Creative Commons Attribution 4.0\"); the upstream corpus's own terms also apply")


@dataclass(frozen=True)
class SourceFile:
    """One published file and the corpus file it becomes."""

    split: str  # the split it becomes: train, dev or test (written as <split>.tsv)
    repo: str  # owner/name of the public GitHub repository
    commit: str  # the pinned commit
    path: str  # the file's path in the repository at that commit
    git_blob: str  # its git blob id at that commit: the hash every download is checked against
    converted_sha256: str | None  # sha256 of the converted file (../shared/data*); None where never seen

    def relative_url(self) -> str:
        """The file's place under a raw-file host or a mirror laid out like one: owner/repo/commit/path."""
        return f"{self.repo}/{self.commit}/{self.path}"


@dataclass(frozen=True)
class CorpusSource:
    """A named corpus: the files it is made from and what a user must know before using it."""

    name: str  # the corpus id, also its directory name in the data directory
    group: str  # "paper" (Table 1) or "extra" (../shared/data-extra)
    entity_types: tuple[str, ...]  # the types of its IOB2 tags after conversion
    files: tuple[SourceFile, ...]  # train, dev and test
    licence: str  # licence or terms, printed on every fetch
    bare_type: str | None = None  # type given to bare B/I tags (BioBERT's species files have none)
    note: str = ""  # printed on fetch: how this version differs from the paper's


def git_blob_id(data: bytes) -> str:
    """The git object id of a file with these bytes (`git hash-object`): sha1 of a header and the bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# name -> (group, entity types, ((split, repository, path, git blob, converted sha256), ...))
_TABLE = {
    "ncbi-disease": ('paper', ('Disease',), (
        ('train', CRICHTON, 'data/NCBI-disease-IOB/train.tsv', 'd2d646eead9fabe3b1fe0391035bd135d32051c7',
         'b0af3407fc012ad1d22c76831ea0b94e6e26cf1403ec5bdeb44689c901a80986'),
        ('dev', CRICHTON, 'data/NCBI-disease-IOB/devel.tsv', '152e9b9d3b4275a1bb9a435b0783946ef40208fe',
         '9864c7267dbf3347235bc1542a12e73abe98303b807dc3779510f51e812c5e24'),
        ('test', CRICHTON, 'data/NCBI-disease-IOB/test.tsv', '6217f611e1517a70e5bd645b9dea34f7f9bf594f',
         'e7fe81bf154610a5633284d2baef5ab477b118d2dc2eafd4d363c50ecc8f0a2b'),
    )),
    "bc5cdr-disease": ('paper', ('Disease',), (
        ('train', CRICHTON, 'data/BC5CDR-disease-IOB/train.tsv', '80a2e68f9a18b1f57e9c7660d6f097066282ecaa',
         '3fe2bca7259b2fc5eb22871f71c24d3907e5d15d5d1d9226b7254a878a4a1e2c'),
        ('dev', CRICHTON, 'data/BC5CDR-disease-IOB/devel.tsv', '77c8c1131342945cd55e4d6ccff57535a8ce5d17',
         'debb26536b95763fda9cab603f88feee3d2a09abb65c3c48dc3740b2672ec812'),
        ('test', CRICHTON, 'data/BC5CDR-disease-IOB/test.tsv', '8f3c5a15e7cb8355354b25002a5359a63b405f09',
         '4693bfbc86f4288ae37a0f26ba07a9ec4eb0245ab1774fb87ef52d12525d9fc3'),
    )),
    "bc5cdr-chem": ('paper', ('Chemical',), (
        ('train', CRICHTON, 'data/BC5CDR-chem-IOB/train.tsv', '5532c9c40b803229fb46ca0567c80bc1686a4e05',
         'dac5cae7ea4b82854cc34a36962d707ded1db551823f9bbbd0ed80d3238626ec'),
        ('dev', CRICHTON, 'data/BC5CDR-chem-IOB/devel.tsv', '550e8c4044bbb93a471ebebf794ac70c398dd0e6',
         '6066c1f78bca3a6c5636d2c61e24fe2d400447489745b0d560c1cbef4e45c6d4'),
        ('test', CRICHTON, 'data/BC5CDR-chem-IOB/test.tsv', '1c948e98da2fcfc578425a54c5e138bbc132a883',
         '048689454af7c60d49d56f2ce103925db7b65da0f341ed4ca32205bc579189db'),
    )),
    "chemdner": ('paper', ('Chemical',), (
        ('train', CRICHTON, 'data/BC4CHEMD/train.tsv', 'f46f93b33d2152d83bbe6302557f48b809b53d2f',
         None),
        ('dev', CRICHTON, 'data/BC4CHEMD/devel.tsv', '607eed70e400da4ce4fd6efea26910458dc71626',
         None),
        ('test', CRICHTON, 'data/BC4CHEMD/test.tsv', 'ce2aeda424709c92e05b022f4f8429970e47444e',
         None),
    )),
    "bc2gm": ('paper', ('GENE',), (
        ('train', CRICHTON, 'data/BC2GM-IOB/train.tsv', '4cff7095a25ecda147466ab4b4a81a315d8641bd',
         '4c2657a64dfecd170a3c8bac08ae4b0fbaf7262ee83e9fb3f2a19d4d210c92ca'),
        ('dev', CRICHTON, 'data/BC2GM-IOB/devel.tsv', 'c083f1ef3d6c9113715c9782af67e1c6da31f6e4',
         '073b7e8eafe15a8ab1c6bce45f83af54a6816428ab6e27aae3c7649715058b39'),
        ('test', CRICHTON, 'data/BC2GM-IOB/test.tsv', '666f49afd8efeafbe34c846efb70be3f1fd92b5b',
         '6413940dd0c829426028fa0faa75b78be40c1b53c448f25cc46bf2a240d33c03'),
    )),
    "jnlpba": ('paper', ('DNA', 'RNA', 'cell_line', 'cell_type', 'protein'), (
        ('train', CRICHTON, 'data/JNLPBA/train.tsv', '5aa9d1ac3d60c924ac225d0c07695c82c31326a5',
         'f84977da1c75723e3ef2f989dc7575c3dfacb3e176e006aed5093833dcc981e6'),
        ('dev', CRICHTON, 'data/JNLPBA/devel.tsv', 'a88b36a9fcaebea8db560e40a7724ccd4dc5ecaf',
         '006ca89e6221981c8f8dc9ea4c940f61378904b943007c8836dd34b5860b6cf3'),
        ('test', CRICHTON, 'data/JNLPBA/test.tsv', 'eae0728d2c79fbd8857edda5a0cd42c3694c5249',
         '0cadf954fce4718db2d3df0037ee8b8dab508eb1c48e16b230efb7c69b5106f0'),
    )),
    "linnaeus": ('paper', ('Species',), (
        ('train', BIOFLAIR, 'data/ner/linnaeus/train.tsv', '255d3c8bb8dbae9bd8cebb96df59af00251668a4',
         'b9f76246898f0b5ba0d8ed415c12f60ab7976272f095ae991a3a133e0e9320fa'),
        ('dev', BIOFLAIR, 'data/ner/linnaeus/devel.tsv', 'd7d2f3b114b99286b03f678e0a759563230f5b93',
         '76d1e28f84d6d75026b738f43a90ad6bc99d8578bf2826e07da7fbf6d1f81cf3'),
        ('test', BIOFLAIR, 'data/ner/linnaeus/test.tsv', 'e47f17ec05d7971fb8b95deb0f1a2e6b37fd7822',
         '444b72b5738e84528530fe8d824ca6d00f311c5955dd8f27b945223cb82c3cc9'),
    )),
    "s800": ('paper', ('Species',), (
        ('train', BIOFLAIR, 'data/ner/s800/train.tsv', 'a3abafa01885fb0a36c577a11c2c884cbfb5f3c9',
         'cb6365e7fae17e2e18cad024d4d0390ec3a5bdf9420609a208ce68a6c63c2e03'),
        ('dev', BIOFLAIR, 'data/ner/s800/devel.tsv', 'e6ce80e54ac83b1f9a1cb0cc9f3f56b8333634b0',
         '7bfb4c797e142c4afc702efb2c63cc4917f68b461b4458c2306b879982f0bfd6'),
        ('test', BIOFLAIR, 'data/ner/s800/test.tsv', '5a1c7c0f29f8007823a0e8cf63f2cc4eff51d52e',
         '60c0bfca64cb7bad4b3fdb99317ee6ff6296aaf0fb4d12817f7f7edeeef0da7c'),
    )),
    "anatem": ('extra', ('Anatomy',), (
        ('train', CRICHTON, 'data/AnatEM-IOB/train.tsv', 'c171414728e10e0956bef104769cc197e9c067f2',
         'c6e6b20a0ee823ac36b1df2a850760d1f990f785f831ac7b19e1b637fc96e178'),
        ('dev', CRICHTON, 'data/AnatEM-IOB/devel.tsv', 'eadfe0f4c35fe6e2145992adb7a60e22d8189d11',
         '8f580d29087e3fc224e234c1afe6fc6bdadb53b17c9dc0e6f597273a20f108f3'),
        ('test', CRICHTON, 'data/AnatEM-IOB/test.tsv', '7d5cfe5e919f6c7f2f04159e4cf12d83a3387baf',
         '6596a264bdfb2e0c5ca9f2b92852b395c56fe5af31ce70111390978e718b9341'),
    )),
    "bionlp09": ('extra', ('Protein',), (
        ('train', CRICHTON, 'data/BioNLP09-IOB/train.tsv', 'e9851b833e371a449bab1a761649c3afdb7ad1ab',
         '4fc7b5179911a410b845601f7d5af16a7e0f718392b06076d1c413db5081342b'),
        ('dev', CRICHTON, 'data/BioNLP09-IOB/devel.tsv', '57e3761d37d056947a0110c69523a16c51a5cb09',
         '3873400495af9f1911bf31e19819841e6065d49882c5746d2717274bb743c9f2'),
        ('test', CRICHTON, 'data/BioNLP09-IOB/test.tsv', '4798a124a670f3d390923b30e5a965f3f38c0828',
         '669194a17f77d85639ededd1cae97aafa6622d0092ceda6ac78a87ab70e06ccf'),
    )),
    "bionlp11epi": ('extra', ('Protein',), (
        ('train', CRICHTON, 'data/BioNLP11EPI-IOB/train.tsv', '12c502182c52de15cc0d2479f7ce1baf303f373e',
         'bdaca55dc863893d0a39cefcab973a124f2e908df4f828a181130803688d646e'),
        ('dev', CRICHTON, 'data/BioNLP11EPI-IOB/devel.tsv', 'eac32da40f0aa628ebfc74a1720a470a6e82f636',
         '51b191ed242767f27be9a2536d83d0d531f5e623fc4fe6afaf24e0dea009ebd7'),
        ('test', CRICHTON, 'data/BioNLP11EPI-IOB/test.tsv', '19e5bd9d7c7a8868324004c8b2a75959e7ad7df8',
         'ec60b4bd77fc97dfff75b71a0ed1def59707970808ddf2739f9dba7668184d8b'),
    )),
    "bionlp11id": ('extra', ('Chemical', 'Organism', 'Protein', 'Regulon-operon'), (
        ('train', CRICHTON, 'data/BioNLP11ID-IOB/train.tsv', '1a83e7ae9a14b4350b11b785ee17f3e4e7c1d7d0',
         '66ff3a44fb4f4174a28b35ecea701de76d88474cb75274d40280c01115489b2d'),
        ('dev', CRICHTON, 'data/BioNLP11ID-IOB/devel.tsv', 'ca6fa18c664cdff2b751adcd01be63f29e52989c',
         '47f9727a4a44de8270053c135081f9bc61565078cd09ce30011fe4a760ecb4c6'),
        ('test', CRICHTON, 'data/BioNLP11ID-IOB/test.tsv', '6cc4b1e4ef9865b199130003355a42f5145bcf7b',
         '4b259afa2bf64effc83c5aa0b7fbc73da7cc1810f2e9de7c24e76963f1c383a1'),
    )),
    "bionlp13cg": ('extra', (
        'Amino_acid', 'Anatomical_system', 'Cancer', 'Cell', 'Cellular_component', 'Developing_anatomical_structure',
        'Gene_or_gene_product', 'Immaterial_anatomical_entity', 'Multi-tissue_structure', 'Organ', 'Organism',
        'Organism_subdivision', 'Organism_substance', 'Pathological_formation', 'Simple_chemical', 'Tissue'), (
        ('train', CRICHTON, 'data/BioNLP13CG-IOB/train.tsv', '924b9a8bca936c4fbd61584029b0b9fcf87be720',
         '51586ed09d2c4b8ad27a318a8f821f5785782a7ef4bdad0371b7de5233ec9b12'),
        ('dev', CRICHTON, 'data/BioNLP13CG-IOB/devel.tsv', 'ffbaf05788d4c60738f677908adaee8aba4e382b',
         '0c6934b3034ef72198ac01c4babe31de94583c53806ee9f0b3e21ba9c8d2a806'),
        ('test', CRICHTON, 'data/BioNLP13CG-IOB/test.tsv', '27cc784571679c48e80dc0f3aab23e895a1ad76a',
         '419702aa9641edf22d264e3b9e3da2af21f9cd28ae1519607fd4461f35e80cdb'),
    )),
    "bionlp13ge": ('extra', ('Protein',), (
        ('train', CRICHTON, 'data/BioNLP13GE-IOB/train.tsv', '5cb1188496186959fa50a46415c7c5bc324c1a90',
         '66c806ef5d78c47e72a434021c833fa77b59c46cde98048372782fee92d39a0d'),
        ('dev', CRICHTON, 'data/BioNLP13GE-IOB/devel.tsv', '977bde38f239eacd63bcd2c1b82f0e288300afc9',
         'c0c82b2f5d5d30afe22c428a060de1e2de031de7147cc37731df3b97d2852cd5'),
        ('test', CRICHTON, 'data/BioNLP13GE-IOB/test.tsv', 'e70a2342f028ed47a0e9b5fa77384656424f6ee3',
         '8cbe13162961822e29599a13abb3320fbed3d7e50106aa4cd781faeabd3826e7'),
    )),
    "bionlp13pc": ('extra', ('Cellular_component', 'Complex', 'Gene_or_gene_product', 'Simple_chemical'), (
        ('train', CRICHTON, 'data/BioNLP13PC-IOB/train.tsv', 'c5eb7ab0def9e191c9a94f4ce7fd499d8c551068',
         '1728cab2ace69dc6b093f31d5d8a5a28d42d8d3c2091f47686a929d62b51dedd'),
        ('dev', CRICHTON, 'data/BioNLP13PC-IOB/devel.tsv', '037578d37d2319198586806010d475c9ecfe0b41',
         '35738a4c19ca50de5ef968fdf6a5faa8b66c10bdf33ed2ac992f98c9c01a9cf4'),
        ('test', CRICHTON, 'data/BioNLP13PC-IOB/test.tsv', '096c8069550e8b5c423f8e212edb4b26017f0198',
         '82168bc24d4984348695658d2f2c75e5e2914e759e65f1c29fabb124c006b611'),
    )),
    "craft": ('extra', ('CHEBI', 'CL', 'GGP', 'GO', 'SO', 'Taxon'), (
        ('train', CRICHTON, 'data/CRAFT-IOB/train.tsv', 'b583142af69ee1edb4e610793bd286707c90696a',
         '1fbf9feb1c4111df46c8a38d6dc94161f0f615148da7d2c619d8f37e3aa7677c'),
        ('dev', CRICHTON, 'data/CRAFT-IOB/devel.tsv', '2f826517cec9c4c22c2b6441d1f2545116c53573',
         'b79dad91a144ab5ab9618739aef3460c761a3a2ae9d1cbd93a22813409bb194d'),
        ('test', CRICHTON, 'data/CRAFT-IOB/test.tsv', 'f90ba59f6f64ed91a2f151332c9b66c4744a1adf',
         '68cc858f813fff72e6bc2c5fc31e61a8072d089dc028aacc80f5f7525f0afc36'),
    )),
    "ex-ptm": ('extra', ('Protein',), (
        ('train', CRICHTON, 'data/Ex-PTM-IOB/train.tsv', '7c7b46c63b3f09e95704d8fd1fdcd3a6a29a7559',
         '0a9d8ff9ae209a974507911f8ae278d7d96de1ac836fcada0896648389389530'),
        ('dev', CRICHTON, 'data/Ex-PTM-IOB/devel.tsv', 'f2bd12147cb9230de3d27742ce842a0409456fa5',
         'a1d2c6584b5c2901e47b2ed81c6528761bc7913c9e21f8da7d3ef3cf0b5619ef'),
        ('test', CRICHTON, 'data/Ex-PTM-IOB/test.tsv', '989ea87739edc1c95194ddbd066be97c690e15ae',
         'dd7babf9bb28eaa1248bebf6b3c546e2f1d7fd5eda3d0d2fee2d768ddc1264ce'),
    )),
}

_LICENCES = {
    "chemdner": ("redistribution status UNCLEAR: the source repository's README says \"The re-distribution "
                 "status of the BioCreative IV Chemical and Drug (BC4CHEMD) named entity recognition task corpus "
                 "is unclear\"; the corpus is public at biocreative.org (CHEMDNER, Krallinger et al. 2015). Use "
                 "it for research and do not redistribute it without checking the BioCreative terms"),
    "jnlpba": ("GENIA Project License for Annotated Corpora (data/JNLPBA/original-data/*/LICENSE in the source "
               "repository): annotations CC BY 3.0, attribution \"Corpus annotations (c) GENIA Project\"; "
               "abstracts subject to PubMed terms"),
    "linnaeus": ("no licence file in shreyashub/BioFLAIR, which vendors BioBERT's preprocessed copy; the LINNAEUS "
                 "corpus terms (Gerner et al. 2010) apply"),
    "s800": ("no licence file in shreyashub/BioFLAIR, which vendors BioBERT's preprocessed copy; the S800 corpus "
             "terms (species.jensenlab.org, Pafilis et al. 2013) apply"),
}

_NOTES = {
    "chemdner": "entity type Chemical expected (its files were never seen here, so its converted files are "
                "checked only through the source blobs)",
    "jnlpba": "Crichton's split (16,807/1,739/3,856 sentences, 5 types), not BioBERT's re-split of Table 1 "
              "(14,690/3,856/3,856, one Gene/Protein type); the same test set",
    "linnaeus": "BioBERT's tokenization (it matches Table 1); tags B/I renamed B-Species/I-Species",
    "s800": "BioBERT's tokenization (it matches Table 1); tags B/I renamed B-Species/I-Species",
}

_BARE_TYPES = {"linnaeus": "Species", "s800": "Species"}

SOURCES: dict[str, CorpusSource] = {
    name: CorpusSource(
        name=name, group=group, entity_types=types,
        files=tuple(SourceFile(split, repo[0], repo[1], path, blob, converted)
                    for split, repo, path, blob, converted in files),
        licence=_LICENCES.get(name, CRICHTON_TERMS), bare_type=_BARE_TYPES.get(name), note=_NOTES.get(name, ""),
    )
    for name, (group, types, files) in _TABLE.items()
}

GROUPS = {  # names `munch corpora fetch` accepts for several corpora
    "all": [name for name, source in SOURCES.items() if source.group == "paper"],
    "extra": [name for name, source in SOURCES.items() if source.group == "extra"],
}
