WHERE = "an unversioned rez package"
