package simhttp_test

import astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

type (
	astypesFilter = astypes.Filter
	astypesLT     = astypes.LaunchTemplateSpecification
	astypesTag    = astypes.Tag
)
